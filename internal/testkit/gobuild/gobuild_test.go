package gobuild_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/smp/delivery/internal/testkit/gobuild"
	"github.com/smp/delivery/internal/testkit/testctx"
)

const hello = "testdata/hello"

// emptyCache points gobuild at an empty cache of its own. (Not through
// XDG_CACHE_HOME: go's own build cache lives there too, and an empty one
// compiled the standard library again in every run.)
func emptyCache(t *testing.T) string {
	dir := t.TempDir()
	t.Setenv("SMP_TESTBUILD_DIR", dir)
	return dir
}

func greet(g string) []string { return []string{"-ldflags", "-X main.greeting=" + g, "."} }

func run(t *testing.T, bin string) string {
	t.Helper()
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatalf("%s: %v", bin, err)
	}
	return strings.TrimSpace(string(out))
}

// entries lists the cache's build outputs: one file per entry directory.
func entries(t *testing.T, cache string) map[string]os.FileInfo {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(cache, "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]os.FileInfo{}
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		got[f] = fi
	}
	return got
}

// A second build of the same program, from another test binary or a later
// run, reuses the cached executable (go build only touches the entry's
// file: a link would write a new one), and each caller gets a file of its own with the same content; other
// flags make another entry.
func TestAnUnchangedProgramIsLinkedOnce(t *testing.T) {
	cache := emptyCache(t)
	ctx := testctx.New(t)
	a, b := filepath.Join(t.TempDir(), "hello"), filepath.Join(t.TempDir(), "hello")
	if err := gobuild.Build(ctx, hello, a, greet("hi"), []string{"CGO_ENABLED=0"}); err != nil {
		t.Fatal(err)
	}
	first := entries(t, cache)
	if len(first) != 1 {
		t.Fatalf("cache entries after one build: %v", first)
	}
	if err := gobuild.Build(ctx, hello, b, greet("hi"), []string{"CGO_ENABLED=0"}); err != nil {
		t.Fatal(err)
	}
	second := entries(t, cache)
	for f, fi := range first {
		again, ok := second[f]
		if !ok || !os.SameFile(fi, again) {
			t.Errorf("the second build replaced the cached %s: it was linked again", f)
		}
	}
	if len(second) != 1 {
		t.Errorf("cache entries after the same build twice: %d, want 1", len(second))
	}
	for _, bin := range []string{a, b} {
		if got := run(t, bin); got != "hi" {
			t.Errorf("%s printed %q, want hi", bin, got)
		}
	}

	c := filepath.Join(t.TempDir(), "hello")
	if err := gobuild.Build(ctx, hello, c, greet("bye"), []string{"CGO_ENABLED=0"}); err != nil {
		t.Fatal(err)
	}
	if got := run(t, c); got != "bye" {
		t.Errorf("other flags: printed %q, want bye", got)
	}
	if got := run(t, a); got != "hi" {
		t.Errorf("after another build, the first caller's file printed %q, want hi", got)
	}
	if n := len(entries(t, cache)); n != 2 {
		t.Errorf("cache entries after two different builds: %d, want 2", n)
	}
}

// Builds of one entry at once (parallel test binaries) wait for each other
// on the entry's lock; each gets a whole executable.
func TestConcurrentBuildsOfOneProgramEachGetAWholeExecutable(t *testing.T) {
	emptyCache(t)
	ctx := testctx.New(t)
	dir := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			errs[i] = gobuild.Build(ctx, hello, filepath.Join(dir, "hello-"+string(rune('a'+i))), greet("same"), nil)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("build %d: %v", i, err)
		}
		if got := run(t, filepath.Join(dir, "hello-"+string(rune('a'+i)))); got != "same" {
			t.Errorf("build %d printed %q", i, got)
		}
	}
}

// A package that does not compile gives go build's own message.
func TestABuildThatFailsSaysWhy(t *testing.T) {
	emptyCache(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module broken\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte("package main\n\nfunc main() { undefinedThing() }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := gobuild.Build(testctx.New(t), src, filepath.Join(t.TempDir(), "broken"), []string{"."}, []string{"GOWORK=off"})
	if err == nil || !strings.Contains(err.Error(), "undefined: undefinedThing") || !strings.Contains(err.Error(), "go build . in "+src) {
		t.Fatalf("err = %v, want go build's message naming the directory", err)
	}
}
