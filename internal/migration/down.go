package migration

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/golang-migrate/migrate/v4"
	"github.com/golang-migrate/migrate/v4/database"
	migratemysql "github.com/golang-migrate/migrate/v4/database/mysql"
	"github.com/golang-migrate/migrate/v4/source/iofs"
)

// ErrVersionMismatch is returned (wrapped) by Down when the database is not
// at the version the caller expects to migrate down from.
var ErrVersionMismatch = errors.New("schema version mismatch")

// Down runs the down migrations of fsys that take the database from schema
// version from to version to (to < from; 0 means before the first
// migration), with golang-migrate, as the migration hook's `migrate` does,
// in the same schema_migrations table. It refuses, without running
// anything, a database that is not at version from or is dirty (a migration
// failed half-way), and a to that is not a version of fsys: migrating down
// further or less than the rollback needs would leave the older image on a
// schema it does not expect either.
//
// db must have been opened with multiStatements=true, since a migration
// file may hold several statements; Down uses one of its connections and
// leaves db open. golang-migrate takes no context: a ctx cancelled while a
// migration runs stops Down after that migration.
func Down(ctx context.Context, db *sql.DB, fsys fs.FS, from, to uint) (err error) {
	if to >= from {
		return fmt.Errorf("migrate down from %d to %d: the target version must be lower than the current one", from, to)
	}
	m, err := open(ctx, db, fsys)
	if err != nil {
		return fmt.Errorf("migrate down from %d to %d: %w", from, to, err)
	}
	defer func() {
		srcErr, dbErr := m.Close()
		if cerr := errors.Join(srcErr, dbErr); cerr != nil && err == nil {
			err = fmt.Errorf("migrate down from %d to %d: close: %w", from, to, cerr)
		}
	}()

	cur, dirty, err := m.Version()
	switch {
	case errors.Is(err, migrate.ErrNilVersion):
		return fmt.Errorf("migrate down from %d to %d: %w: the database has no migration applied", from, to, ErrVersionMismatch)
	case err != nil:
		return fmt.Errorf("migrate down from %d to %d: read the applied version: %w", from, to, err)
	case dirty:
		return fmt.Errorf("migrate down from %d to %d: %w: version %d is dirty (a migration failed half-way): repair the schema by hand, then `server migrate force %d`", from, to, ErrVersionMismatch, cur, cur)
	case cur != from:
		return fmt.Errorf("migrate down from %d to %d: %w: the database is at version %d: read the environment's applied version again", from, to, ErrVersionMismatch, cur)
	}
	if to != 0 {
		if err := hasVersion(fsys, to); err != nil {
			return fmt.Errorf("migrate down from %d to %d: %w", from, to, err)
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("migrate down from %d to %d: %w", from, to, err)
	}

	defer watch(ctx, m)()
	if to == 0 {
		err = m.Down()
	} else {
		err = m.Migrate(to)
	}
	if err != nil {
		return fmt.Errorf("migrate down from %d to %d: %w", from, to, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("migrate down from %d to %d: stopped: %w", from, to, err)
	}
	return nil
}

// Applied reads the schema version the environment's migration hook
// applied, from golang-migrate's schema_migrations table in db: the truth
// that the running image's recorded version only stands for. ok is false
// when no migration was ever applied. A dirty version (a migration failed
// half-way) is an error: no rollback can be decided on a schema in an
// unknown state.
func Applied(ctx context.Context, db *sql.DB) (version uint, ok bool, err error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("read the applied schema version: connect to the database: %w", err)
	}
	drv, err := migratemysql.WithConnection(ctx, conn, &migratemysql.Config{})
	if err != nil {
		_ = conn.Close()
		return 0, false, fmt.Errorf("read the applied schema version: %w", err)
	}
	defer drv.Close()
	v, dirty, err := drv.Version()
	switch {
	case err != nil:
		return 0, false, fmt.Errorf("read the applied schema version: %w", err)
	case v == database.NilVersion, v < 0:
		return 0, false, nil
	case dirty:
		return 0, false, fmt.Errorf("%w: the database's schema version %d is dirty (a migration failed half-way): repair the schema by hand, then `server migrate force %d`", ErrVersionMismatch, v, v)
	}
	return uint(v), true, nil
}

// ErrNoSuchVersion is returned (wrapped) by Down when the target version is
// not one of the migrations: golang-migrate would only say "file does not
// exist".
var ErrNoSuchVersion = errors.New("no such migration version")

// hasVersion checks that v is the version of an up migration in fsys.
func hasVersion(fsys fs.FS, v uint) error {
	migs, err := Classify(fsys)
	if err != nil {
		return err
	}
	var have []string
	for _, m := range migs {
		if m.Version == v {
			return nil
		}
		have = append(have, fmt.Sprint(m.Version))
	}
	return fmt.Errorf("%w: %d is not a version of these migrations (%s): give the schema version of the image rolled back to", ErrNoSuchVersion, v, strings.Join(have, ", "))
}

// open returns a golang-migrate instance on one connection of db, reading
// the migrations at the root of fsys. Closing it closes that connection
// only.
func open(ctx context.Context, db *sql.DB, fsys fs.FS) (*migrate.Migrate, error) {
	src, err := iofs.New(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	conn, err := db.Conn(ctx)
	if err != nil {
		_ = src.Close()
		return nil, fmt.Errorf("connect to the database: %w", err)
	}
	drv, err := migratemysql.WithConnection(ctx, conn, &migratemysql.Config{})
	if err != nil {
		_ = src.Close()
		_ = conn.Close()
		return nil, fmt.Errorf("open the migration driver: %w", err)
	}
	m, err := migrate.NewWithInstance("iofs", src, "mysql", drv)
	if err != nil {
		_ = src.Close()
		_ = drv.Close()
		return nil, fmt.Errorf("create the migrator: %w", err)
	}
	return m, nil
}

// watch makes golang-migrate, which takes no context, stop after the
// migration in progress when ctx is done (order-svc's migrations package
// does the same, and explains the library's unsynchronised stop flag).
func watch(ctx context.Context, m *migrate.Migrate) func() {
	done := make(chan struct{})
	go func() {
		select {
		case <-ctx.Done():
			select {
			case m.GracefulStop <- true:
			default:
			}
		case <-done:
		}
	}()
	return func() { close(done) }
}
