package docs

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"testing"
)

// TestTheLayoutTheReadmeDescribes checks the README's "Layout" rules on the
// real import graph (go list), so the tree cannot drift from them quietly:
// internal/cli is the top (only the main imports it), internal/fault the
// bottom (it imports nothing of ours), packages under internal/testkit are
// used only by tests and benchmarks, and no package is named like a
// standard-library package it would shadow.
func TestTheLayoutTheReadmeDescribes(t *testing.T) {
	t.Parallel()
	const mod = "github.com/smp/delivery"
	stdName := map[string]string{}
	for _, l := range goList(t, "std", "{{.ImportPath}}|{{.Name}}") {
		path, name, _ := strings.Cut(l, "|")
		stdName[path] = name
	}
	type pkg struct {
		path, name string
		imports    []string
	}
	var pkgs []pkg
	// The standard-library packages our code imports: a package of ours
	// named like one of them shadows it where both are needed.
	shadowed := map[string]string{}
	for _, l := range goList(t, "../...", "{{.ImportPath}}|{{.Name}}|{{join .Imports \" \"}}") {
		f := strings.SplitN(l, "|", 3)
		p := pkg{f[0], f[1], strings.Fields(f[2])}
		pkgs = append(pkgs, p)
		for _, imp := range p.imports {
			if name, ok := stdName[imp]; ok {
				shadowed[name] = imp
			}
		}
	}
	for _, p := range pkgs {
		path, imports := p.path, p.imports
		if std, ok := shadowed[p.name]; ok && p.name != "main" {
			t.Errorf("%s is package %s, which shadows the standard library's %s (imported here too): name it for what it does", path, p.name, std)
		}
		for _, imp := range imports {
			if !strings.HasPrefix(imp, mod+"/") {
				continue
			}
			switch {
			case imp == mod+"/internal/cli" && path != mod+"/cmd/smpctl":
				t.Errorf("%s imports internal/cli: only cmd/smpctl may; the CLI is the top of the graph", path)
			case path == mod+"/internal/fault":
				t.Errorf("internal/fault imports %s: the error taxonomy is a leaf and imports nothing of ours", imp)
			case strings.HasPrefix(imp, mod+"/internal/testkit/") && !strings.HasPrefix(path, mod+"/internal/testkit/") && !strings.HasPrefix(path, mod+"/bench/"):
				t.Errorf("%s (non-test code) imports %s: internal/testkit is for tests and benchmarks only", path, imp)
			}
		}
	}
}

func goList(t *testing.T, pattern, format string) []string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(context.WithoutCancel(t.Context()), "go", "list", "-tags", "integration", "-f", format, pattern)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list %s: %v\n%s", pattern, err, errb.String())
	}
	return strings.Split(strings.TrimSpace(out.String()), "\n")
}
