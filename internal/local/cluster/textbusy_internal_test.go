package cluster

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// An executable written while other goroutines fork children runs at once:
// no child inherits its write descriptor, so exec never fails with ETXTBSY
// (the demo's "migrate 3.3.1: fork/exec …/server: text file busy").
func TestAnEntrypointWrittenWhileChildrenStartRunsAtOnce(t *testing.T) {
	t.Parallel()
	prog, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Fatalf("no /bin/true to copy: %v", err)
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				_ = exec.CommandContext(ctx, "/bin/true").Run()
			}
		})
	}
	defer wg.Wait()
	defer cancel()
	busy := 0
	for i := range 300 {
		p := filepath.Join(dir, "server")
		if err := writeExecutable(p+".tmp", bytes.NewReader(prog)); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(p+".tmp", p); err != nil {
			t.Fatal(err)
		}
		if err := exec.CommandContext(ctx, p).Run(); err != nil {
			if errors.Is(err, syscall.ETXTBSY) {
				busy++
				continue
			}
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if busy > 0 {
		t.Fatalf("%d of 300 runs failed with ETXTBSY (text file busy)", busy)
	}
}
