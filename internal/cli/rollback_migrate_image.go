package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"

	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/local/cluster"
	"github.com/smp/delivery/internal/migration"
)

// migrateDownWithImage runs the down migrations of a rollback's verdict r
// with the running image's own entrypoint, pulled by digest (every layer
// checked against it): `<entrypoint> migrate down N` with the database in
// MYSQL_DSN — the contract the migration hook already relies on (`migrate
// up`, MYSQL_DSN; docs/migrations.md). Before and after, it reads the
// applied version from the database: the image must find it at r.From and
// leave it at r.To.
func (a *App) migrateDownWithImage(ctx context.Context, acc imageref.Access, dsn string, running imageref.Ref, r migration.Rollback) error {
	n := len(r.Crossed)
	if n == 0 {
		return nil
	}
	db, err := openDSN(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	if v, _, err := migration.Applied(ctx, db); err != nil {
		return err
	} else if v != r.From {
		return fmt.Errorf("%w: the database is at version %d, not %d: read it again before migrating down", migration.ErrVersionMismatch, v, r.From)
	}
	cache, err := os.MkdirTemp("", "smpctl-migrate-down-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	reg := &cluster.Registry{Cache: cache, Remote: acc.Options(ctx)}
	bin, err := reg.Fetch(ctx, running.Repository, running.Digest)
	if err != nil {
		return fmt.Errorf("pull the running image to migrate down with it: %w", err)
	}
	cmd := exec.CommandContext(ctx, bin, "migrate", "down", strconv.Itoa(n))
	cmd.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + cache, "TMPDIR=" + cache, "MYSQL_DSN=" + dsn}
	cmd.Dir = cache
	out, err := cmd.CombinedOutput()
	fmt.Fprintf(a.Stderr, "schema: %s migrate down %d: %s\n", shortDigest(running.Digest), n, strings.TrimSpace(string(out)))
	if err != nil {
		return fmt.Errorf("the running image's `migrate down %d`: %w", n, err)
	}
	v, _, err := migration.Applied(ctx, db)
	if err != nil {
		return err
	}
	if v != r.To {
		return fmt.Errorf("%w: after the image's `migrate down %d` the database is at version %d, not %d", migration.ErrVersionMismatch, n, v, r.To)
	}
	return nil
}
