package image_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/smp/delivery/internal/image"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/testkit/imagetest"
)

func writeMigrations(t *testing.T, dir string, files ...string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("SELECT 1;\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func digestOf(t *testing.T, r name.Repository, p *image.Pushed) name.Digest {
	t.Helper()
	d, err := name.NewDigest(r.String()+"@"+p.Digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestTheImageRecordsItsSchemaVersionAndItIsReadBackByDigest(t *testing.T) {
	t.Parallel()
	host := imagetest.Registry(t)
	dir, _ := imagetest.ServiceRepo(t, "schema")
	// Versions need not be contiguous: the highest counts, not the number.
	writeMigrations(t, filepath.Join(dir, image.MigrationsDirName),
		"0001_a.up.sql", "0001_a.down.sql", "0002_b.up.sql", "0002_b.down.sql", "0010_c.up.sql", "0010_c.down.sql", "README.md")
	r := repo(t, host, "smp/schema")
	a := build(t, image.BuildOptions{Dir: dir, Repo: r, Version: "1.0.0"})
	if got := a.Annotations[image.AnnotationSchemaVersion]; got != "10" {
		t.Errorf("built annotation %s = %q, want 10", image.AnnotationSchemaVersion, got)
	}
	p := push(t, a)

	v, ok, err := image.SchemaVersion(context.Background(), digestOf(t, r, p), imageref.Access{})
	if err != nil || !ok || v != 10 {
		t.Errorf("SchemaVersion = %d, %v, %v; want 10, true", v, ok, err)
	}
}

func TestAnImageWithoutMigrationsRecordsNoSchemaVersion(t *testing.T) {
	t.Parallel()
	host := imagetest.Registry(t)
	dir, _ := imagetest.ServiceRepo(t, "noschema")
	r := repo(t, host, "smp/noschema")
	a := build(t, image.BuildOptions{Dir: dir, Repo: r, Version: "1.0.0"})
	if got, found := a.Annotations[image.AnnotationSchemaVersion]; found {
		t.Errorf("annotation %s = %q on a service without migrations, want none", image.AnnotationSchemaVersion, got)
	}
	p := push(t, a)
	v, ok, err := image.SchemaVersion(context.Background(), digestOf(t, r, p), imageref.Access{})
	if err != nil || ok || v != 0 {
		t.Errorf("SchemaVersion = %d, %v, %v; want 0, false, no error", v, ok, err)
	}

	missing := r.Digest("sha256:" + strings.Repeat("0", 64))
	if _, _, err := image.SchemaVersion(context.Background(), missing, imageref.Access{}); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("SchemaVersion of a digest the registry lacks: %v, want ErrNotFound", err)
	}
}

func TestAMigrationsDirectoryWithTwoUpsForOneVersionFailsTheBuild(t *testing.T) {
	t.Parallel()
	dir, _ := imagetest.ServiceRepo(t, "badschema")
	mig := filepath.Join(dir, image.MigrationsDirName)
	writeMigrations(t, mig, "0001_a.up.sql", "0001_b.up.sql")
	_, err := image.Build(context.Background(), image.BuildOptions{Dir: dir, Repo: repo(t, "127.0.0.1:1", "smp/bad"), Version: "1.0.0"})
	if !errors.Is(err, image.ErrBadInput) || !strings.Contains(err.Error(), mig) {
		t.Errorf("Build = %v, want ErrBadInput naming %s", err, mig)
	}
}

// TestTheImageRecordsItsMigrationsClassified: built with order-svc's six
// migrations, the image says which expand and which contract (0006 drops a
// column), and a rollback reads that back by digest without the SQL.
func TestTheImageRecordsItsMigrationsClassified(t *testing.T) {
	t.Parallel()
	host := imagetest.Registry(t)
	dir, _ := imagetest.ServiceRepo(t, "classified")
	r := repo(t, host, "smp/classified")
	a := build(t, image.BuildOptions{Dir: dir, Repo: r, Version: "1.0.0", Migrations: "../../examples/order-svc/migrations"})
	if got := a.Annotations[image.AnnotationMigrations]; !strings.Contains(got, `"file":"0006_services_drop_price.up.sql","kind":"contract"`) {
		t.Errorf("annotation %s = %s", image.AnnotationMigrations, got)
	}
	p := push(t, a)
	migs, ok, err := image.RecordedMigrations(context.Background(), digestOf(t, r, p), imageref.Access{})
	if err != nil || !ok || len(migs) != 6 {
		t.Fatalf("RecordedMigrations = %d, %v, %v; want 6", len(migs), ok, err)
	}
	for _, m := range migs {
		if contract := m.Version == 6; (m.Kind.String() == "contract") != contract {
			t.Errorf("%s read back as %s", m.File, m.Kind)
		}
	}
}
