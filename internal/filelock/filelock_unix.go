//go:build unix

package filelock

import (
	"context"
	"fmt"
	"os"
	"syscall"
)

// Lock takes an exclusive lock on path (made if missing), waiting at most
// until ctx ends, and returns the function that releases it.
//
// The wait blocks in flock(2) rather than polling, so a queue of writers
// costs no CPU while it waits. flock cannot be interrupted, so when ctx
// ends first the waiting goroutine is left to take the lock and drop it
// at once.
func Lock(ctx context.Context, path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	release := func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err == nil {
		return release, nil
	} else if err != syscall.EWOULDBLOCK {
		_ = f.Close()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Unbuffered: the lock is handed over only to a caller still waiting.
	locked := make(chan error)
	abandoned := make(chan struct{})
	go func() {
		err := flockRetry(f)
		select {
		case locked <- err:
		case <-abandoned:
			if err == nil {
				release()
			} else {
				_ = f.Close()
			}
		}
	}()
	select {
	case err := <-locked:
		if err != nil {
			_ = f.Close()
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return release, nil
	case <-ctx.Done():
		close(abandoned)
		return nil, fmt.Errorf("wait for the lock %s: %w", path, ctx.Err())
	}
}

// flockRetry blocks until it holds the lock, retrying when a signal
// interrupts the wait.
func flockRetry(f *os.File) error {
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX)
		if err != syscall.EINTR {
			return err
		}
	}
}
