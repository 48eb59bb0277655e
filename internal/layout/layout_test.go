package layout

import (
	"strings"
	"testing"
)

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

func TestValidCanonicalUUID(t *testing.T) {
	const uuid = "a7c1c8a2-6d0e-4d57-8d55-1b1f8d3c9e01"
	for _, c := range []struct {
		id      string
		problem string // "" when the id is a UUID
	}{
		{uuid, ""},
		{"00000000-0000-0000-0000-000000000000", ""},
		{"ffffffff-ffff-ffff-ffff-ffffffffffff", ""},
		{"", "empty model UUID"},
		{uuid + ":1", "contains ':'"},
		{"test-uuid", "is not a UUID"},
		{"not-a-uuid", "is not a UUID"},
		{uuid[:35], "is not a UUID"},
		{uuid + "0", "is not a UUID"},
		{"x" + uuid, "is not a UUID"},
		{"{" + uuid[:34] + "}", "is not a UUID"},
		{"a7c1c8a26d0e4d578d551b1f8d3c9e01", "is not a UUID"},
		{"a7c1c8a2-6d0e-4d57-8d55_1b1f8d3c9e01", "is not a UUID"},
		{"a7c1c8a-26d0e-4d57-8d55-1b1f8d3c9e01", "is not a UUID"},
		{"g7c1c8a2-6d0e-4d57-8d55-1b1f8d3c9e01", "is not a UUID"},
		{"A7C1C8A2-6D0E-4D57-8D55-1B1F8D3C9E01", "upper-case"},
		{"a7c1c8a2-6d0e-4d57-8d55-1b1f8d3c9e0F", "upper-case"},
		{"A7C1C8A2-6D0E-4D57-8D55-1B1F8D3C9E0G", "is not a UUID"},
	} {
		got := ValidCanonicalUUID(c.id)
		if (got == "") != (c.problem == "") || !strings.Contains(got, c.problem) {
			t.Errorf("ValidCanonicalUUID(%q) = %q, want a problem containing %q", c.id, got, c.problem)
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
