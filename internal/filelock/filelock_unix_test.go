//go:build unix

package filelock_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/filelock"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// A lock someone holds makes the next taker wait until its context ends,
// naming the file; released, it is taken at once.
func TestAHeldLockWaitsForItsHolderOrTheContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	unlock, err := filelock.Lock(testctx.New(t), path)
	if err != nil {
		t.Fatal(err)
	}
	ended, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := filelock.Lock(ended, path); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "wait for the lock "+path) {
		t.Fatalf("lock while held, context ended: err = %v, want the wait for %s ended by the context", err, path)
	}
	unlock()
	again, err := filelock.Lock(testctx.New(t), path)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	again()
}

// A path that cannot be made is an error that names it.
func TestALockWhereNoFileCanBeMadeNamesIt(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "x.lock")
	if _, err := filelock.Lock(testctx.New(t), path); err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want one naming %s", err, path)
	}
}
