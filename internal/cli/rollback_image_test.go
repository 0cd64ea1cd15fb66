package cli

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/image"
	"github.com/smp/delivery/internal/migration"
)

// pushRecordedImage pushes an image recording schema version v and
// order-svc's migrations up to v, classified, as smpctl build does; it
// returns repository:tag@digest.
func pushRecordedImage(t *testing.T, repo, tag string, v uint) string {
	t.Helper()
	all, err := migration.Classify(os.DirFS(orderSvcMigrations))
	if err != nil {
		t.Fatal(err)
	}
	var migs []migration.Migration
	for _, m := range all {
		if m.Version <= v {
			migs = append(migs, m)
		}
	}
	recorded, err := migration.EncodeRecords(migs)
	if err != nil {
		t.Fatal(err)
	}
	return pushAnnotatedImage(t, repo, tag, map[string]string{image.AnnotationSchemaVersion: fmt.Sprint(v), image.AnnotationMigrations: recorded})
}

// TestARollbackReadsTheRunningImagesRecordedMigrations: by default
// (--migrations image) no checkout is needed: the running image's
// classified migrations come from the registry. 6 → 3 is refused naming
// 0006; --migrate-down without the database is bad input; an image that
// records nothing is rolled back with a line saying the schema was not
// checked, and --migrations none rolls back unchecked, saying so.
func TestARollbackReadsTheRunningImagesRecordedMigrations(t *testing.T) {
	t.Parallel()
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	repo := strings.TrimPrefix(reg.URL, "http://") + "/smp/order-svc"
	v3 := pushRecordedImage(t, repo, "3.0.0", 3)
	v6 := pushRecordedImage(t, repo, "6.0.0", 6)
	bare, env := devRemote(t, repo, v3, v6)
	before := gitcmdtest.Git(t, bare, "rev-parse", "main")
	code, _, stderr := smpctl(t, env, "rollback", "--env", "dev", "--service", "order-svc", "--by", "oncall")
	if code != 1 || !strings.Contains(stderr, "migration 0006 contracts the schema") || !strings.Contains(stderr, "DROP COLUMN price") {
		t.Fatalf("rollback 6 → 3: exit %d, want 1 naming 0006\n%s", code, stderr)
	}
	if code, _, stderr := smpctl(t, env, "rollback", "--env", "dev", "--service", "order-svc", "--by", "oncall", "--migrations", "image", "--migrate-down"); code != 2 || !strings.Contains(stderr, "SMP_DATABASE_DSN") {
		t.Errorf("--migrate-down without the database: exit %d, want 2\n%s", code, stderr)
	}
	if gitcmdtest.Git(t, bare, "rev-parse", "main") != before {
		t.Fatal("a refused rollback was written")
	}
	code, stdout, stderr := smpctl(t, env, "rollback", "--env", "dev", "--service", "order-svc", "--by", "oncall", "--migrations", "none")
	if code != 0 || !strings.Contains(stdout, "→ 3.0.0") || !strings.Contains(stderr, "schema: not checked (--migrations none)") {
		t.Errorf("rollback 6 → 3 with --migrations none: exit %d, want 0, unchecked and said\n%s%s", code, stdout, stderr)
	}

	// An image built before smpctl recorded migrations: rolled back, said.
	_, env2 := devRemote(t, repo, v3, pushSchemaImage(t, repo, "7.0.0", 7))
	code, stdout, stderr = smpctl(t, env2, "rollback", "--env", "dev", "--service", "order-svc", "--by", "oncall")
	if code != 0 || !strings.Contains(stdout, "→ 3.0.0") || !strings.Contains(stderr, "schema: not checked: the running image") {
		t.Errorf("rollback from an image without records: exit %d\n%s%s", code, stdout, stderr)
	}
}

// TestMigrateDownRunsTheRunningImagesOwnBinary: order-svc 6.0.0, built by
// smpctl build from examples/order-svc, runs in dev on a database at
// version 6. `rollback --to 3.0.0 --migrations image --migrate-down` pulls
// 6.0.0 by digest and runs its own `server migrate down 3` — the SQL that
// ran up is the SQL that runs down — then writes the rollback; the real
// MariaDB ends at version 3.
func TestMigrateDownRunsTheRunningImagesOwnBinary(t *testing.T) {
	t.Parallel()
	reg := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(reg.Close)
	repo := strings.TrimPrefix(reg.URL, "http://") + "/smp/order-svc"
	v3 := pushRecordedImage(t, repo, "3.0.0", 3)
	env := map[string]string{"SMP_CACHE_DIR": t.TempDir()}
	code, stdout, stderr := smpctl(t, env, "build", "--dir", "../../examples/order-svc/cmd/server", "--image", repo, "--base", "builtin",
		"--version", "6.0.0", "--commit", strings.Repeat("6", 40), "--tag", "6.0.0", "--push")
	if code != 0 {
		t.Fatalf("smpctl build order-svc: exit %d\n%s%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	v6 := lines[len(lines)-1]
	_, env = devRemote(t, repo, v3, v6)
	dsn := orderSvcDatabaseAt(t, 6)
	env["SMP_DATABASE_DSN"] = dsn
	code, stdout, stderr = smpctl(t, env, "rollback", "--env", "dev", "--service", "order-svc", "--to", "3.0.0", "--by", "oncall",
		"--migrations", "image", "--migrate-down")
	if code != 0 || !strings.Contains(stdout, "→ 3.0.0") || !strings.Contains(stderr, "migrated the database down from version 6 to 3") {
		t.Fatalf("rollback --migrations image --migrate-down: exit %d\n%s%s", code, stdout, stderr)
	}
	if v := schemaVersion(t, dsn); v != 3 {
		t.Errorf("database at version %d after the image's migrate down, want 3", v)
	}
}
