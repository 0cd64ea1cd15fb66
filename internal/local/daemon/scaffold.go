package daemon

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/smp/delivery/internal/gitops/layout"
)

// Scaffold creates the smp-gitops remote as a bare repository at bare with
// `smpctl gitops init` (package layout): the scaffold is written to a work
// tree beside it (<dir>/gitops, origin = the bare repository) and pushed.
func Scaffold(ctx context.Context, bare string) error {
	work := filepath.Join(filepath.Dir(bare), "gitops")
	if _, err := layout.Init(ctx, work, layout.InitOptions{Remote: bare}); err != nil {
		return fmt.Errorf("gitops init %s --remote %s: %w", work, bare, err)
	}
	return nil
}
