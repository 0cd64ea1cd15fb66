package cli

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"testing/fstest"

	"github.com/go-sql-driver/mysql"
	"github.com/google/go-containerregistry/pkg/name"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/image"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/local/cluster"
	"github.com/smp/delivery/internal/migration"
)

// schemaCheck is rollback's --migrations: before anything is written, it
// decides from the two images' recorded schema versions and the running
// image's migrations (dir) whether the target image can run on the schema
// the running one applied. A refusal names the contract migrations and the
// ways out; with migrateDown it runs the down migrations on the database of
// SMP_DATABASE_DSN first instead. With SMP_DATABASE_DSN, the applied schema
// version is read from the database's schema_migrations, not assumed to be
// the running image's (a failed hook or a migration by hand makes them
// differ).
//
// dir may be MigrationsFromImage: the running image's migrations are then
// the ones smpctl build recorded on it (image.AnnotationMigrations), read
// from the registry by digest — the default of rollback and of the gate
// watch, with no checkout. An image that records nothing is not checked,
// and say is told so.
//
// say is given what the check found out ("schema: ..."), for a person;
// nil says it on standard error.
//
// mirror, when not empty, is the local runtime's registry (host:port): the
// images are read there (cluster.MirrorRepository), where the runtime runs
// them from, not from the registry their names say.
func (a *App) schemaCheck(dir string, migrateDown bool, mirror string, say func(string)) (func(ctx context.Context, running, target imageref.Ref) error, error) {
	if say == nil {
		say = func(s string) { fmt.Fprintln(a.Stderr, s) }
	}
	var (
		files fs.FS
		migs  []migration.Migration
		err   error
	)
	if dir != MigrationsFromImage {
		if files, err = readMigrations(dir); err != nil {
			return nil, err
		}
		if migs, err = migration.ClassifyDir(files, dir); err != nil {
			return nil, fault.Inputf("Migrations", "%w", err)
		}
	}
	dsn := a.Getenv("SMP_DATABASE_DSN")
	if migrateDown && dsn == "" {
		return nil, fault.Invalidf("--migrate-down needs the environment's database in SMP_DATABASE_DSN (user:password@tcp(host:3306)/db), never on the command line")
	}
	acc := a.access()
	schemaOf := func(ctx context.Context, ref string) (uint, bool, error) {
		d, err := name.NewDigest(ref)
		if err != nil {
			return 0, false, fmt.Errorf("%s: %w", ref, err)
		}
		return image.SchemaVersion(ctx, d, acc)
	}
	return func(ctx context.Context, running, target imageref.Ref) error {
		ctx, cancel := context.WithTimeout(ctx, registryTimeout)
		defer cancel()
		running.Repository = cluster.MirrorRepository(mirror, running.Repository)
		target.Repository = cluster.MirrorRepository(mirror, target.Repository)
		var (
			r   migration.Rollback
			err error
		)
		targetRef := target.Repository + "@" + target.Digest
		migs, fromImage := migs, migs == nil
		if fromImage {
			d, err := name.NewDigest(running.Repository + "@" + running.Digest)
			if err != nil {
				return fault.Refusedf("rollback to %s: the running image %s: %w; nothing written", target.Tag, running.Repository, schemaUndecided{err})
			}
			recorded, ok, err := image.RecordedMigrations(ctx, d, acc)
			if err != nil {
				return fault.Refusedf("rollback to %s: %w; nothing written (give the running version's migrations with --migrations DIR instead, or --migrations none to roll back unchecked)", target.Tag, schemaUndecided{err})
			}
			if !ok {
				say(fmt.Sprintf("schema: not checked: the running image %s records no migrations (built without any, or before smpctl build recorded them)", shortDigest(running.Digest)))
				return nil
			}
			migs = recorded
		}
		if dsn == "" {
			// Without the database, the applied version is taken to be
			// the one the running image's migrations end at: the last of
			// its recorded migrations, when they came from the image (no
			// second read of its manifest), else its schema annotation.
			if fromImage {
				r, err = migration.CheckRollbackFrom(ctx, schemaOf, migs, migration.Latest(migs), targetRef)
			} else {
				r, err = migration.CheckRollback(ctx, schemaOf, migs, running.Repository+"@"+running.Digest, targetRef)
			}
			if err == nil && r.Known {
				r.Note += "\n(schema: the applied version is the running image's; give the database in SMP_DATABASE_DSN to read it from schema_migrations)"
			}
		} else {
			var applied uint
			if applied, err = appliedSchema(ctx, dsn); err == nil {
				r, err = migration.CheckRollbackFrom(ctx, schemaOf, migs, applied, targetRef)
			}
		}
		if err != nil {
			return fault.Refusedf("rollback to %s: %w; nothing written (--migrations none rolls back unchecked, once you know the schema allows it)", target.Tag, schemaUndecided{err})
		}
		switch {
		case !r.Known || r.Allowed():
			say(r.Note)
			return nil
		case !migrateDown:
			return fault.Refusedf("rollback to %s refused (%w); nothing written.\n%s", target.Tag, errSchemaRefused, r.Note)
		}
		if files == nil {
			// The running image's own binary runs its down migrations:
			// the SQL that ran up is the SQL that runs down.
			if err := a.migrateDownWithImage(ctx, acc, dsn, running, r); err != nil {
				return fault.Refusedf("rollback to %s: %w; the rollback was not written", target.Tag, err)
			}
			say(fmt.Sprintf("schema: the running image %s migrated the database down from version %d to %d; writing the rollback", shortDigest(running.Digest), r.From, r.To))
			return nil
		}
		if err := migrateDownTo(ctx, dsn, files, r.From, r.To); err != nil {
			return fault.Refusedf("rollback to %s: %w; the rollback was not written", target.Tag, err)
		}
		say(fmt.Sprintf("schema: migrated the database down from version %d to %d (%s); writing the rollback", r.From, r.To, dir))
		return nil
	}, nil
}

// readMigrations reads the *.sql files of dir into memory, through
// os.Root: a symlink that leads out of dir is refused, never read as SQL
// (--migrate-down runs what it reads), and what is classified is what runs.
func readMigrations(dir string) (fs.FS, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fault.Inputf("Migrations", "migrations directory: %w", err)
	}
	defer root.Close()
	names, err := fs.Glob(root.FS(), "*.sql")
	if err != nil {
		return nil, err
	}
	files := fstest.MapFS{}
	for _, n := range names {
		b, err := root.ReadFile(n)
		if err != nil {
			return nil, fault.Inputf("Migrations", "migrations directory %s: %w", dir, err)
		}
		files[n] = &fstest.MapFile{Data: b, Mode: 0o644}
	}
	return files, nil
}

// MigrationsFromImage is the --migrations value that reads the running image's
// migrations from what smpctl build recorded on it: the default.
const MigrationsFromImage = "image"

// MigrationsNone is the --migrations value that checks nothing.
const MigrationsNone = "none"

// notCheckedNone is said when --migrations none turned the check off.
const notCheckedNone = "schema: not checked (--migrations none)"

// errSchemaRefused marks a rollback refused because migrations that
// contract the schema would stay applied.
var errSchemaRefused = errors.New("contract migrations in the way")

// errSchemaUnknown marks a rollback the schema check could not judge: the
// registry or the database did not answer, the schema is dirty, or the
// applied version is not among the migrations. Nothing says it is safe.
var errSchemaUnknown = errors.New("the schema check could not decide")

// schemaUndecided is an error of the schema check that leaves the
// rollback unjudged (errSchemaUnknown), with the cause's own message.
type schemaUndecided struct{ err error }

func (e schemaUndecided) Error() string   { return e.err.Error() }
func (e schemaUndecided) Unwrap() []error { return []error{errSchemaUnknown, e.err} }

// appliedSchema reads the environment's applied schema version from its
// database (0 when nothing was ever applied).
func appliedSchema(ctx context.Context, dsn string) (uint, error) {
	db, err := openDSN(dsn)
	if err != nil {
		return 0, err
	}
	defer db.Close()
	v, _, err := migration.Applied(ctx, db)
	return v, err
}

// openDSN opens the MySQL database dsn names, with multiStatements (a
// migration file may hold several statements).
func openDSN(dsn string) (*sql.DB, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fault.Invalidf("SMP_DATABASE_DSN is not a MySQL DSN (user:password@tcp(host:3306)/db): %w", errors.Unwrap(err))
	}
	cfg.MultiStatements = true
	return sql.Open("mysql", cfg.FormatDSN())
}

// migrateDownTo runs the down migrations of dir from one version to the
// other on the database dsn names.
func migrateDownTo(ctx context.Context, dsn string, migs fs.FS, from, to uint) error {
	db, err := openDSN(dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	return migration.Down(ctx, db, migs, from, to)
}
