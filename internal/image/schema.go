package image

// This file records the schema version an image's embedded migrations end
// at, and reads it back by digest: the rollback compares it with the
// version an environment's migration hook applied (internal/migration).

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	"github.com/golang-migrate/migrate/v4/source/iofs"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/migration"
)

// AnnotationSchemaVersion is the highest migration version of the
// service's migrations directory when the image was built: the schema
// version the image's `migrate up` ends at. Absent when the service has no
// migrations.
const AnnotationSchemaVersion = "vn.smp.delivery.schema-version"

// MigrationsDirName is where a service keeps its golang-migrate files, at
// its module's root (examples/order-svc/migrations, and every service made
// from it by `smpctl new service`).
const MigrationsDirName = "migrations"

// schemaVersion is the highest version in the migrations directory: o.Migrations,
// else MigrationsDirName at the root of Dir's module. ok is false when there
// is no such directory or it holds no migration.
//
// It reads file names only, with golang-migrate's own parser (the one the
// migration hook uses), so a build does not link or run the SQL classifier.
func (o *BuildOptions) schemaVersion() (v uint, ok bool, err error) {
	dir, found := o.migrationsDir()
	if !found {
		return 0, false, nil
	}
	src, err := iofs.New(os.DirFS(dir), ".")
	if err != nil {
		return 0, false, fault.Inputf("Migrations", "%w: migrations directory %s: %w; fix the file names (NNNN_name.up.sql, NNNN_name.down.sql, one of each per version)", ErrBadInput, dir, err)
	}
	defer src.Close() //nolint:errcheck // an os.DirFS source holds nothing open
	v, err = src.First()
	if errors.Is(err, fs.ErrNotExist) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("migrations directory %s: read the first migration: %w", dir, err)
	}
	for {
		next, err := src.Next(v)
		if errors.Is(err, fs.ErrNotExist) {
			return v, true, nil
		}
		if err != nil {
			return 0, false, fmt.Errorf("migrations directory %s: read the migration after %d: %w", dir, v, err)
		}
		v = next
	}
}

// migrationsDir is o.Migrations, else MigrationsDirName at the root of
// Dir's module when it exists.
func (o *BuildOptions) migrationsDir() (string, bool) {
	if o.Migrations != "" {
		return o.Migrations, true
	}
	root, found := moduleRoot(o.Dir)
	if !found {
		return "", false
	}
	dir := filepath.Join(root, MigrationsDirName)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", false
	}
	return dir, true
}

// AnnotationMigrations records every up migration of the image with its
// classification (migration.EncodeRecords: version, file, expand or
// contract, and the contract changes), so that a rollback decides from the
// registry whether the migrations it leaves applied only expand the schema.
const AnnotationMigrations = "vn.smp.delivery.migrations"

// recordedMigrations classifies the migrations directory for
// AnnotationMigrations, reading it through os.Root (a symlink out of it is
// refused). ok is false when there is none.
func (o *BuildOptions) recordedMigrations() (string, bool, error) {
	dir, found := o.migrationsDir()
	if !found {
		return "", false, nil
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", false, fault.Inputf("Migrations", "%w: migrations directory: %w", ErrBadInput, err)
	}
	defer root.Close()
	migs, err := migration.Classify(root.FS())
	if err != nil {
		return "", false, fault.Inputf("Migrations", "%w: %s: %w", ErrBadInput, dir, err)
	}
	if len(migs) == 0 {
		return "", false, nil
	}
	s, err := migration.EncodeRecords(migs)
	return s, err == nil, err
}

// RecordedMigrations reads back the migrations smpctl build recorded on the
// image or index at d (AnnotationMigrations); ok is false when it carries
// none (no migrations, or built before the annotation existed).
func RecordedMigrations(ctx context.Context, d name.Digest, acc imageref.Access) (migs []migration.Migration, ok bool, err error) {
	desc, err := remote.Get(d, acc.Options(ctx)...)
	if err != nil {
		if imageref.NotFound(err) {
			return nil, false, fmt.Errorf("%w: %s is not in the registry: check the digest (smpctl image resolve)", ErrNotFound, d)
		}
		return nil, false, fmt.Errorf("read %s: %w", d, imageref.Explain(err, d.Registry, acc.Attempts))
	}
	anns, err := annotations(desc)
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", d, err)
	}
	s, found := anns[AnnotationMigrations]
	if !found {
		return nil, false, nil
	}
	migs, err = migration.DecodeRecords(s)
	if err != nil {
		return nil, false, fmt.Errorf("%s: annotation %s: %w", d, AnnotationMigrations, err)
	}
	return migs, true, nil
}

// moduleRoot is the directory of the nearest go.mod at or above dir.
func moduleRoot(dir string) (string, bool) {
	d, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	for {
		if st, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && !st.IsDir() {
			return d, true
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", false
		}
		d = parent
	}
}

// SchemaVersion reads the schema version smpctl build recorded on the
// image or index at d. ok is false when the image carries none: its
// service has no migrations, or it was built before the annotation existed
// — the caller decides what that means for a rollback. An image that is
// not there is ErrNotFound; a value that is not a version is an error.
func SchemaVersion(ctx context.Context, d name.Digest, acc imageref.Access) (version uint, ok bool, err error) {
	desc, err := remote.Get(d, acc.Options(ctx)...)
	if err != nil {
		if imageref.NotFound(err) {
			return 0, false, fmt.Errorf("%w: %s is not in the registry: check the digest (smpctl image resolve)", ErrNotFound, d)
		}
		return 0, false, fmt.Errorf("read %s: %w", d, imageref.Explain(err, d.Registry, acc.Attempts))
	}
	anns, err := annotations(desc)
	if err != nil {
		return 0, false, fmt.Errorf("read %s: %w", d, err)
	}
	s, found := anns[AnnotationSchemaVersion]
	if !found {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(s, 10, 0)
	if err != nil {
		return 0, false, fmt.Errorf("%s: annotation %s is %q, not a migration version: the image was not annotated by smpctl build", d, AnnotationSchemaVersion, s)
	}
	return uint(n), true, nil
}
