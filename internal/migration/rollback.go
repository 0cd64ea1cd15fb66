package migration

import (
	"context"
	"fmt"
	"io/fs"
)

// SchemaOf reads the schema version an image's migrations end at, by the
// image's reference (repository@digest); ok is false for an image that
// does not say (built without migrations, or before smpctl recorded it).
// image.SchemaVersion, bound to a registry's access, is one.
type SchemaOf func(ctx context.Context, ref string) (version uint, ok bool, err error)

// Rollback is what CheckRollback found.
type Rollback struct {
	Verdict
	// Known is false when either image does not record its schema
	// version: nothing can be decided, and Note says so.
	Known bool
	Note  string
}

// CheckRollback decides a rollback from the running image (running, which
// applied its migrations when it was deployed) to target, with migs, the
// running image's migrations (which include every version in between).
// It reads both images' schema versions with schemaOf. The caller refuses
// the rollback when the result is Known and not Allowed.
func CheckRollback(ctx context.Context, schemaOf SchemaOf, migs []Migration, running, target string) (Rollback, error) {
	from, okFrom, err := schemaOf(ctx, running)
	if err != nil {
		return Rollback{}, fmt.Errorf("schema version of the running image: %w", err)
	}
	if !okFrom {
		return Rollback{Note: notRecorded}, nil
	}
	return CheckRollbackFrom(ctx, schemaOf, migs, from, target)
}

// CheckRollbackFrom is CheckRollback when the environment's applied schema
// version is known (read from its database with Applied) rather than taken
// to be the one the running image's migrations end at: the two differ when
// a migration hook failed, or when someone migrated by hand.
func CheckRollbackFrom(ctx context.Context, schemaOf SchemaOf, migs []Migration, applied uint, target string) (Rollback, error) {
	to, ok, err := schemaOf(ctx, target)
	if err != nil {
		return Rollback{}, fmt.Errorf("schema version of the rollback's image: %w", err)
	}
	if !ok {
		return Rollback{Note: notRecorded}, nil
	}
	v, err := Between(migs, applied, to)
	if err != nil {
		return Rollback{}, err
	}
	return Rollback{Verdict: v, Known: true, Note: v.Message()}, nil
}

const notRecorded = "schema: not checked: the running image or the rollback's image does not record its schema version (built before smpctl build recorded it, or without migrations)"

// ClassifyDir is Classify of a directory on disk, with the error saying
// which directory.
func ClassifyDir(fsys fs.FS, name string) ([]Migration, error) {
	migs, err := Classify(fsys)
	if err != nil {
		return nil, fmt.Errorf("migrations in %s: %w", name, err)
	}
	if len(migs) == 0 {
		return nil, fmt.Errorf("%w: %s holds no NNNN_name.up.sql migrations: give the service's migrations directory", ErrLayout, name)
	}
	return migs, nil
}
