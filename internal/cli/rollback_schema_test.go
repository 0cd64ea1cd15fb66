package cli

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/golang-migrate/migrate/v4"
	_ "github.com/golang-migrate/migrate/v4/database/mysql" // the mysql:// URLs of migrate.New
	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/image"
	"github.com/smp/delivery/internal/testkit/testctx"
)

const orderSvcMigrations = "../../examples/order-svc/migrations"

// pushSchemaImage pushes an image recording schema version v, as smpctl
// build does, and returns repository:tag@digest.
func pushSchemaImage(t *testing.T, repo, tag string, v uint) string {
	t.Helper()
	return pushAnnotatedImage(t, repo, tag, map[string]string{image.AnnotationSchemaVersion: fmt.Sprint(v)})
}

// pushAnnotatedImage pushes a random image with annotations as repo:tag
// and returns repository:tag@digest.
func pushAnnotatedImage(t *testing.T, repo, tag string, annotations map[string]string) string {
	t.Helper()
	img, err := random.Image(64, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.Annotations(img, annotations).(v1.Image)
	ref, err := name.NewTag(repo + ":" + tag)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return repo + ":" + tag + "@" + d.String()
}

// devRemote is a GitOps remote whose one environment, dev, ran refs in
// order (a minute apart), with order-svc's images in repo; it returns the
// remote and the environment smpctl runs with.
func devRemote(t *testing.T, repo string, refs ...string) (string, map[string]string) {
	t.Helper()
	bare := gitopstest.NewRemote(t, map[string]string{"delivery.yaml": `apiVersion: delivery.smp.vn/v1
kind: Delivery
environments:
  - {name: dev, sync: automated, trigger: main, approval: none}
services:
  - name: order-svc
    image: ` + repo + "\n"})
	env := map[string]string{"SMP_GITOPS": bare, "SMP_CACHE_DIR": t.TempDir()}
	for i, ref := range refs {
		if code, _, stderr := smpctl(t, env, "deploy", "--env", "dev", "--service", "order-svc", "--image", ref,
			"--source-time", time.Date(2026, 12, 1, 10, i, 0, 0, time.UTC).Format(time.RFC3339)); code != 0 {
			t.Fatalf("deploy %s: exit %d\n%s", ref, code, stderr)
		}
	}
	return bare, env
}

// TestARollbackAcrossAContractMigrationIsRefused: order-svc's 0004 and
// 0005 only expand the schema, 0006 drops the price column. With
// --migrations, a rollback from 5 to 3 runs; from 6 to 3 it is refused,
// naming 0006, and nothing is written; --migrate-down on real MariaDB takes
// the database back to version 3 and then rolls back.
func TestARollbackAcrossAContractMigrationIsRefused(t *testing.T) {
	t.Parallel()
	reg := httptest.NewServer(registry.New())
	t.Cleanup(reg.Close)
	repo := strings.TrimPrefix(reg.URL, "http://") + "/smp/order-svc"
	v3 := pushSchemaImage(t, repo, "3.0.0", 3)
	v5 := pushSchemaImage(t, repo, "5.0.0", 5)
	v6 := pushSchemaImage(t, repo, "6.0.0", 6)
	bare, env := devRemote(t, repo)
	deploy := func(ref string, minute int) {
		t.Helper()
		code, _, stderr := smpctl(t, env, "deploy", "--env", "dev", "--service", "order-svc", "--image", ref,
			"--source-time", time.Date(2026, 12, 1, 10, minute, 0, 0, time.UTC).Format(time.RFC3339))
		if code != 0 {
			t.Fatalf("deploy %s: exit %d\n%s", ref, code, stderr)
		}
	}
	deploy(v3, 0)
	deploy(v5, 1)

	// 5 → 3 crosses 0004 and 0005, both expand: allowed.
	code, stdout, stderr := smpctl(t, env, "rollback", "--env", "dev", "--service", "order-svc", "--by", "oncall", "--migrations", orderSvcMigrations)
	if code != 0 || !strings.Contains(stdout, "→ 3.0.0") || !strings.Contains(stderr, "migrations 0004, 0005 stay applied (version 5) and only expand the schema") {
		t.Fatalf("rollback 5 → 3: exit %d\n%s%s", code, stdout, stderr)
	}
	if code, _, stderr := smpctl(t, env, "hold", "release", "--env", "dev", "--service", "order-svc", "--by", "oncall"); code != 0 {
		t.Fatal(stderr)
	}
	deploy(v6, 2)

	// 6 → 3 crosses 0006, which contracts: refused, nothing written.
	before := gitcmdtest.Git(t, bare, "rev-parse", "main")
	code, _, stderr = smpctl(t, env, "rollback", "--env", "dev", "--service", "order-svc", "--to", "3.0.0", "--by", "oncall", "--migrations", orderSvcMigrations)
	if code != 1 || !strings.Contains(stderr, "migration 0006 contracts the schema") || !strings.Contains(stderr, "DROP COLUMN price: drops a column") ||
		!strings.Contains(stderr, "roll forward") || !strings.Contains(stderr, "--migrate-down") {
		t.Fatalf("rollback 6 → 3: exit %d, want 1 naming 0006 and the ways out\n%s", code, stderr)
	}
	if gitcmdtest.Git(t, bare, "rev-parse", "main") != before {
		t.Error("a refused rollback was written")
	}
	// --migrate-down without a database, or without --migrations: bad input.
	if code, _, stderr := smpctl(t, env, "rollback", "--env", "dev", "--service", "order-svc", "--to", "3.0.0", "--by", "oncall", "--migrations", orderSvcMigrations, "--migrate-down"); code != 2 || !strings.Contains(stderr, "SMP_DATABASE_DSN") {
		t.Errorf("--migrate-down without SMP_DATABASE_DSN: exit %d\n%s", code, stderr)
	}
	if code, _, _ := smpctl(t, env, "rollback", "--env", "dev", "--service", "order-svc", "--by", "oncall", "--migrate-down"); code != 2 {
		t.Errorf("--migrate-down without --migrations: exit %d, want 2", code)
	}

	// --migrate-down on a real database at version 6.
	dsn := orderSvcDatabaseAt(t, 6)
	env["SMP_DATABASE_DSN"] = dsn
	code, stdout, stderr = smpctl(t, env, "rollback", "--env", "dev", "--service", "order-svc", "--to", "3.0.0", "--by", "oncall", "--migrations", orderSvcMigrations, "--migrate-down")
	if code != 0 || !strings.Contains(stdout, "→ 3.0.0") || !strings.Contains(stderr, "migrated the database down from version 6 to 3") {
		t.Fatalf("rollback --migrate-down: exit %d\n%s%s", code, stdout, stderr)
	}
	if v := schemaVersion(t, dsn); v != 3 {
		t.Errorf("database at version %d after --migrate-down, want 3", v)
	}
}

// orderSvcDatabaseAt creates a database on the local MariaDB (dropped at
// the end), applies order-svc's migrations up to v and returns its DSN.
func orderSvcDatabaseAt(t *testing.T, v uint) string {
	t.Helper()
	ctx := testctx.New(t)
	admin, err := sql.Open("mysql", "root@tcp(127.0.0.1:3306)/?timeout=5s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("MariaDB at 127.0.0.1:3306 does not answer (%v): start it (scripts/tools.sh services)", err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	db := "cli_rollback_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+db+"`"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS `"+db+"`"); err != nil {
			t.Errorf("drop %s: %v", db, err)
		}
	})
	cfg := mysql.NewConfig()
	cfg.User, cfg.Net, cfg.Addr, cfg.DBName = "root", "tcp", "127.0.0.1:3306", db
	src, err := iofs.New(os.DirFS(orderSvcMigrations), ".")
	if err != nil {
		t.Fatal(err)
	}
	up := cfg.Clone()
	up.MultiStatements = true
	m, err := migrate.NewWithSourceInstance("iofs", src, "mysql://"+up.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Migrate(v); err != nil {
		t.Fatalf("migrate up to %d: %v", v, err)
	}
	return cfg.FormatDSN()
}

func schemaVersion(t *testing.T, dsn string) uint {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v uint
	var dirty bool
	if err := db.QueryRow("SELECT version, dirty FROM schema_migrations").Scan(&v, &dirty); err != nil {
		t.Fatal(err)
	}
	if dirty {
		t.Error("schema_migrations is dirty")
	}
	return v
}
