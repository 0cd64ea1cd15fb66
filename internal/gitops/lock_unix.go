//go:build unix

package gitops

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockFile serialises smpctl processes that clone or fetch the same cached
// mirror (two CI jobs deploying at once); git's own ref locks would
// otherwise fail one of them. The lock waits at most until ctx ends; the
// kernel releases it when the process dies, so a crash leaves no stale lock.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock gitops cache: %w", err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if err != syscall.EWOULDBLOCK {
			_ = f.Close()
			return nil, fmt.Errorf("lock gitops cache %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			_ = f.Close()
			return nil, fmt.Errorf("wait for the gitops cache lock %s: %w", path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}
