package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLinksNoTestDatabase pins down why the demo and the soak live in
// presence-lab: the command operators install links neither the embedded
// database's harness nor FerretDB and what it brings.
func TestLinksNoTestDatabase(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("skipped: no go command to list the dependencies with: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 {
		t.Fatalf("go list -deps listed only %v", deps)
	}
	for _, dep := range deps {
		for _, banned := range []string{
			"github.com/presence-go/presence/internal/testserver",
			"github.com/presence-go/presence/internal/wirebridge",
			"github.com/FerretDB/",
			"modernc.org/sqlite",
			"github.com/jackc/pgx",
		} {
			if strings.HasPrefix(dep, banned) {
				t.Errorf("presence links %s", dep)
			}
		}
	}
}

// TestReadsThroughTheLibrary pins down that the command reads the
// database through the library's API: it imports none of the packages
// that lay out or decode the documents, whose home is internal/layout.
func TestReadsThroughTheLibrary(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("skipped: no go command to list the imports with: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-f", `{{join .Imports " "}}`, ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	imports := strings.Fields(string(out))
	if len(imports) < 3 {
		t.Fatalf("go list listed only the imports %v", imports)
	}
	for _, imp := range imports {
		for _, banned := range []string{
			"github.com/presence-go/presence/internal/layout",
			"github.com/presence-go/presence/internal/bsonraw",
			"github.com/presence-go/presence/internal/livestate",
		} {
			if imp == banned {
				t.Errorf("presence imports %s", imp)
			}
		}
	}
}
