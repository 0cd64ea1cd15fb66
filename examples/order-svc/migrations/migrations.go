// Package migrations holds order-svc's MySQL schema as golang-migrate files,
// embedded in the binary so that `server migrate up` runs the exact schema the
// image was built with (no separate migration image, no ConfigMap).
//
// Rules, checked by the reversibility test: every NNNN_name.up.sql has a
// NNNN_name.down.sql that returns the schema to what it was before the up;
// a breaking change is split into expand (nullable column), backfill, and a
// contract step shipped one release later (0004 → 0005 → 0006).
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"

	"github.com/golang-migrate/migrate/v4"
	migratemysql "github.com/golang-migrate/migrate/v4/database/mysql"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

//go:embed *.sql
var files embed.FS

// FS returns the embedded migration files.
func FS() embed.FS { return files }

// ErrNoChange is returned when there was nothing to migrate.
var ErrNoChange = migrate.ErrNoChange

// ErrNoVersion is returned by Version when no migration was ever applied.
var ErrNoVersion = migrate.ErrNilVersion

// Runner applies the embedded migrations to one database.
type Runner struct {
	m *migrate.Migrate
}

// New returns a Runner for the database db is connected to. db must have been
// opened with multiStatements=true because a migration file may hold several
// statements.
func New(db *sql.DB) (*Runner, error) {
	src, err := iofs.New(files, ".")
	if err != nil {
		return nil, fmt.Errorf("open embedded migrations: %w", err)
	}
	drv, err := migratemysql.WithInstance(db, &migratemysql.Config{})
	if err != nil {
		return nil, fmt.Errorf("open migration driver: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "mysql", drv)
	if err != nil {
		return nil, fmt.Errorf("create migrator: %w", err)
	}
	return &Runner{m: m}, nil
}

// watch makes golang-migrate (which takes no context) stop after the
// migration in progress when ctx is done.
//
// golang-migrate v4.20.1 reads and writes its graceful-stop flag from two
// goroutines without a lock, so a stop that arrives mid-run is a data race
// inside the library (benign: a bool only ever set to true). The callers
// check ctx before they start, so an already cancelled context never
// reaches the library at all.
func (r *Runner) watch(ctx context.Context) func() {
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			select {
			case r.m.GracefulStop <- true:
			default:
			}
		case <-done:
		}
	}()
	return func() { close(done) }
}

// Up applies every pending migration. It returns ErrNoChange when the
// schema is already current.
func (r *Runner) Up(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	defer r.watch(ctx)()
	if err := r.m.Up(); err != nil {
		return fmt.Errorf("migrate up: %w", err)
	}
	return ctx.Err()
}

// Down reverts the last n applied migrations (n ≥ 1).
func (r *Runner) Down(ctx context.Context, n int) error {
	if n < 1 {
		return fmt.Errorf("migrate down %d: the number of steps must be at least 1", n)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("migrate down %d: %w", n, err)
	}
	defer r.watch(ctx)()
	if err := r.m.Steps(-n); err != nil {
		return fmt.Errorf("migrate down %d: %w", n, err)
	}
	return ctx.Err()
}

// UpSteps applies the next n pending migrations (n ≥ 1).
func (r *Runner) UpSteps(ctx context.Context, n int) error {
	if n < 1 {
		return fmt.Errorf("migrate up %d: the number of steps must be at least 1", n)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("migrate up %d: %w", n, err)
	}
	defer r.watch(ctx)()
	if err := r.m.Steps(n); err != nil {
		return fmt.Errorf("migrate up %d: %w", n, err)
	}
	return ctx.Err()
}

// DownAll reverts every applied migration.
func (r *Runner) DownAll(ctx context.Context) error {
	defer r.watch(ctx)()
	if err := r.m.Down(); err != nil {
		return fmt.Errorf("migrate down all: %w", err)
	}
	return ctx.Err()
}

// Version reports the applied version and whether the last migration failed
// half-way (dirty). It returns ErrNoVersion on an empty database.
func (r *Runner) Version() (version uint, dirty bool, err error) {
	v, d, err := r.m.Version()
	if err != nil {
		return 0, false, fmt.Errorf("read migration version: %w", err)
	}
	return v, d, nil
}

// Force records version v as applied and clean without running anything;
// it is how an operator recovers from a dirty migration after fixing the
// schema by hand. v = -1 means "no migration applied".
func (r *Runner) Force(v int) error {
	if v < -1 {
		return fmt.Errorf("migrate force %d: the version must be -1 or greater", v)
	}
	if err := r.m.Force(v); err != nil {
		return fmt.Errorf("migrate force %d: %w", v, err)
	}
	return nil
}

// Latest is the highest version among the embedded migrations.
func Latest() (uint, error) {
	src, err := iofs.New(files, ".")
	if err != nil {
		return 0, fmt.Errorf("open embedded migrations: %w", err)
	}
	defer src.Close() //nolint:errcheck // read-only embedded FS
	v, err := src.First()
	if err != nil {
		return 0, fmt.Errorf("read first migration: %w", err)
	}
	for {
		next, err := src.Next(v)
		if errors.Is(err, fs.ErrNotExist) {
			return v, nil
		}
		if err != nil {
			return 0, fmt.Errorf("read migration after %d: %w", v, err)
		}
		v = next
	}
}

// Close releases the source and the database driver (which closes db).
func (r *Runner) Close() error {
	srcErr, dbErr := r.m.Close()
	return errors.Join(srcErr, dbErr)
}
