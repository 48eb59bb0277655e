package layout

import "testing"

func TestIDs(t *testing.T) {
	if got := DocID("m", 42); got != "m:42" {
		t.Errorf("DocID = %q", got)
	}
	if got := SeqsID("m"); got != "m:beings" {
		t.Errorf("SeqsID = %q", got)
	}
	from, before := ModelRange("m")
	for id, in := range map[string]bool{"m:1": true, "m:beings": true, "m:": true, "m-2:1": false, "m;": false, "m": false, "n:1": false} {
		if got := from <= id && id < before; got != in {
			t.Errorf("%q in the range of model m: %v, want %v", id, got, in)
		}
	}
}

func TestValidModelUUID(t *testing.T) {
	for id, ok := range map[string]bool{"test-uuid": true, "a7c1c8a2-6d0e-4d57-8d55-1b1f8d3c9e01": true, "": false, "a:b": false} {
		if got := ValidModelUUID(id) == ""; got != ok {
			t.Errorf("ValidModelUUID(%q) = %q", id, ValidModelUUID(id))
		}
	}
}

func TestModelOfID(t *testing.T) {
	for id, want := range map[string]string{"m:1": "m", "m:beings": "m", "a-b:c:d": "a-b", ":1": "", "m": "", "": ""} {
		got, ok := ModelOfID([]byte(id))
		if string(got) != want || ok != (want != "") {
			t.Errorf("ModelOfID(%q) = %q, %v; want %q", id, got, ok, want)
		}
	}
	if model, _ := ModelOfID([]byte(DocID("a7c1c8a2-6d0e", 30))); string(model) != "a7c1c8a2-6d0e" {
		t.Errorf("ModelOfID(DocID) = %q", model)
	}
}
