package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// On a module of its own: two packages whose binaries share a name (one
// passing, one failing), and a package without tests. The run reports both
// packages' events, fails naming the failing one, merges a profile that
// counts the package without tests, and a second run links nothing again.
//
// Not parallel: it changes directory and standard output.
func TestGotestbinRunsKeptBinariesAsGoTestDoes(t *testing.T) {
	mod := t.TempDir()
	files := map[string]string{
		"go.mod":        "module example.com/m\n\ngo 1.22\n",
		"a/x/x.go":      "package x\n\nfunc Add(a, b int) int { return a + b }\n",
		"a/x/x_test.go": "package x\n\nimport \"testing\"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(1, 2) != 3 {\n\t\tt.Fatal(\"sum\")\n\t}\n}\n",
		"b/x/x.go":      "package x\n\nfunc Sub(a, b int) int { return a - b }\n",
		"b/x/x_test.go": "package x\n\nimport \"testing\"\n\nfunc TestSub(t *testing.T) {\n\tif Sub(3, 1) != 1 {\n\t\tt.Fatal(\"wrong on purpose\")\n\t}\n}\n",
		"c/main.go":     "package main\n\nfunc main() { println(\"untested\") }\n",
	}
	for name, body := range files {
		p := filepath.Join(mod, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t2j := filepath.Join(t.TempDir(), "test2json")
	if out, err := exec.CommandContext(t.Context(), "go", "build", "-o", t2j, "cmd/test2json").CombinedOutput(); err != nil {
		t.Fatalf("go build cmd/test2json: %v\n%s", err, out)
	}
	bin := filepath.Join(t.TempDir(), "bin")
	profile := filepath.Join(t.TempDir(), "cover.out")
	t.Chdir(mod)

	run := func() (string, error) {
		t.Helper()
		stdout, err := os.CreateTemp(t.TempDir(), "events")
		if err != nil {
			t.Fatal(err)
		}
		saved := os.Stdout
		os.Stdout = stdout
		rerr := runAll(context.Background(), bin, t2j, 2, "", []string{"-vet=off", "-covermode=atomic", "-coverpkg=./..."}, "", profile, []string{"-test.count=1"}, []string{"./..."})
		os.Stdout = saved
		b, err := os.ReadFile(stdout.Name())
		if err != nil {
			t.Fatal(err)
		}
		return string(b), rerr
	}
	events, err := run()
	if err == nil || !strings.Contains(err.Error(), "example.com/m/b/x") || strings.Contains(err.Error(), "example.com/m/a/x") {
		t.Fatalf("runAll: %v, want the failure of example.com/m/b/x alone", err)
	}
	results := map[string]string{}
	for line := range strings.Lines(events) {
		var e struct{ Action, Package, Test string }
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("not a test2json event: %q: %v", line, err)
		}
		if e.Test == "" && (e.Action == "pass" || e.Action == "fail") {
			results[e.Package] = e.Action
		}
	}
	if results["example.com/m/a/x"] != "pass" || results["example.com/m/b/x"] != "fail" || len(results) != 2 {
		t.Errorf("package results %v, want a/x pass and b/x fail", results)
	}
	prof, err := os.ReadFile(profile)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"mode: atomic\n", "example.com/m/a/x/x.go:", "example.com/m/b/x/x.go:", "example.com/m/c/main.go:"} {
		if !bytes.Contains(prof, []byte(want)) {
			t.Errorf("the merged profile lacks %q:\n%s", want, prof)
		}
	}
	if n := bytes.Count(prof, []byte("mode:")); n != 1 {
		t.Errorf("the merged profile has %d mode lines", n)
	}

	inode := func(p string) uint64 {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	a, b := filepath.Join(bin, "0", "x.test"), filepath.Join(bin, "1", "x.test")
	before := []uint64{inode(a), inode(b)}
	if _, err := run(); err == nil {
		t.Fatal("the second run passed")
	}
	if after := []uint64{inode(a), inode(b)}; after[0] != before[0] || after[1] != before[1] {
		t.Errorf("an unchanged package was linked again: inodes %v then %v", before, after)
	}
}
