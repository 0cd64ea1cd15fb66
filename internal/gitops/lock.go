package gitops

import (
	"context"
	"fmt"

	"github.com/smp/delivery/internal/filelock"
)

// lockFile serialises smpctl processes that clone or fetch the same cached
// mirror (two CI jobs deploying at once); git's own ref locks would
// otherwise fail one of them. The lock waits at most until ctx ends.
func lockFile(ctx context.Context, path string) (unlock func(), err error) {
	unlock, err = filelock.Lock(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("gitops cache: %w", err)
	}
	return unlock, nil
}
