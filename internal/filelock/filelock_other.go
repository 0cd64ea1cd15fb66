//go:build !unix

package filelock

import "context"

// Lock does not lock where flock(2) is missing.
func Lock(context.Context, string) (func(), error) { return func() {}, nil }
