package cli

import (
	"database/sql"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/gitopstest"
)

// TestTheAppliedSchemaVersionIsReadFromTheDatabase: git says dev runs 5.0.0
// (whose migrations end at 5), but 6.0.0's migration hook already applied
// 0006, which drops a column, before its release was reverted. Judged by
// the running image, a rollback to 3.0.0 would cross only expand
// migrations; with SMP_DATABASE_DSN, smpctl reads schema_migrations, sees
// version 6 and refuses, naming 0006. A dirty schema is refused too. Nothing
// is written in either case.
func TestTheAppliedSchemaVersionIsReadFromTheDatabase(t *testing.T) {
	t.Parallel()
	reg := httptest.NewServer(registry.New())
	t.Cleanup(reg.Close)
	repo := strings.TrimPrefix(reg.URL, "http://") + "/smp/order-svc"
	v3 := pushSchemaImage(t, repo, "3.0.0", 3)
	v5 := pushSchemaImage(t, repo, "5.0.0", 5)
	bare, env := devRemote(t, repo, v3, v5)
	rollback := []string{"rollback", "--env", "dev", "--service", "order-svc", "--to", "3.0.0", "--by", "oncall", "--migrations", orderSvcMigrations}
	before := gitcmdtest.Git(t, bare, "rev-parse", "main")

	dsn := orderSvcDatabaseAt(t, 6)
	env["SMP_DATABASE_DSN"] = dsn
	code, _, stderr := smpctl(t, env, rollback...)
	if code != 1 || !strings.Contains(stderr, "the environment is at version 6") || !strings.Contains(stderr, "migration 0006 contracts the schema") {
		t.Fatalf("rollback to 3.0.0 with the database at 6: exit %d, want 1 naming 0006\n%s", code, stderr)
	}

	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("UPDATE schema_migrations SET dirty = 1"); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = smpctl(t, env, rollback...)
	if code != 1 || !strings.Contains(stderr, "dirty") || !strings.Contains(stderr, "migrate force 6") {
		t.Fatalf("rollback with a dirty schema: exit %d, want 1 saying it is dirty\n%s", code, stderr)
	}
	if gitcmdtest.Git(t, bare, "rev-parse", "main") != before {
		t.Error("a refused rollback was written")
	}

	// Without the database, the running image's version stands for the
	// applied one, and the output says so.
	delete(env, "SMP_DATABASE_DSN")
	code, _, stderr = smpctl(t, env, rollback...)
	if code != 0 || !strings.Contains(stderr, "give the database in SMP_DATABASE_DSN") {
		t.Fatalf("rollback without the database: exit %d\n%s", code, stderr)
	}
}

// TestAMigrationThatIsASymlinkOutOfTheDirectoryIsRefused: --migrate-down
// runs the SQL it reads, so a migrations directory whose file leads out of
// it (a symlink to another file on the machine) is bad input, and nothing is
// read through it or written.
func TestAMigrationThatIsASymlinkOutOfTheDirectoryIsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	entries, err := os.ReadDir(orderSvcMigrations)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(orderSvcMigrations, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	outside := filepath.Join(t.TempDir(), "elsewhere.sql")
	if err := os.WriteFile(outside, []byte("DROP TABLE orders;\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "0007_elsewhere.up.sql")); err != nil {
		t.Fatal(err)
	}
	bare := gitopstest.NewRemote(t, map[string]string{"delivery.yaml": "apiVersion: delivery.smp.vn/v1\nkind: Delivery\nenvironments:\n  - {name: dev, sync: automated, trigger: main, approval: none}\nservices:\n  - name: order-svc\n    image: ghcr.io/smp/order-svc\n"})
	before := gitcmdtest.Git(t, bare, "rev-parse", "main")
	env := map[string]string{"SMP_GITOPS": bare, "SMP_CACHE_DIR": t.TempDir()}
	code, _, stderr := smpctl(t, env, "rollback", "--env", "dev", "--service", "order-svc", "--by", "oncall", "--migrations", dir)
	if code != 2 || !strings.Contains(stderr, "0007_elsewhere.up.sql") {
		t.Fatalf("rollback --migrations with a symlink out of the directory: exit %d, want 2 naming the file\n%s", code, stderr)
	}
	if gitcmdtest.Git(t, bare, "rev-parse", "main") != before {
		t.Error("written")
	}
}
