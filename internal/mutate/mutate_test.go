package mutate

import "testing"

func TestEveryMutationHasAName(t *testing.T) {
	seen := map[string]bool{}
	for _, m := range All() {
		name := m.String()
		if name == "" || name == "unknown" || seen[name] {
			t.Errorf("mutation %d is named %q", m, name)
		}
		seen[name] = true
	}
	if Active(FarPingPoisons) && !Enabled {
		t.Errorf("a mutation is active in a build that cannot have one")
	}
}
