package migration

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/golang-migrate/migrate/v4/source"
)

// Kind is how a change affects older code running on the migrated schema.
type Kind int

const (
	// Expand changes leave every query of older code working.
	Expand Kind = iota
	// Contract changes may break older code: they remove, rename or narrow
	// something it uses, or add a rule its writes may break.
	Contract
)

// String returns "expand" or "contract".
func (k Kind) String() string {
	if k == Contract {
		return "contract"
	}
	return "expand"
}

// Change is one classified part of a statement: a whole statement, or one
// clause of an ALTER TABLE that does several things.
type Change struct {
	// SQL is the statement or clause as the parser read it, keywords in
	// upper case ("ALTER TABLE services DROP COLUMN price"), or the text as
	// written, on one line, when the parser could not read it.
	SQL string
	// Kind is Expand or Contract.
	Kind Kind
	// Reason says why, in a few words ("drops a column").
	Reason string
}

// String formats the change as "SQL: reason".
func (c Change) String() string { return c.SQL + ": " + c.Reason }

// Migration is one classified up migration.
type Migration struct {
	// Version is the number the file name starts with.
	Version uint
	// Name is the file name's identifier: "services_drop_price".
	Name string
	// File is the up file's name: "0006_services_drop_price.up.sql".
	File string
	// DownFile is the down file's name, empty when there is none.
	DownFile string
	// Changes lists every statement (or ALTER TABLE clause) in order.
	Changes []Change
	// Kind is Contract when any change is, else Expand.
	Kind Kind
}

// Blockers lists the contract changes as "file: SQL: reason", the form a
// refused rollback prints.
func (m Migration) Blockers() []string {
	var out []string
	for _, c := range m.Changes {
		if c.Kind == Contract {
			out = append(out, m.File+": "+c.String())
		}
	}
	return out
}

// ErrLayout is returned (wrapped) when a migrations directory does not
// follow golang-migrate's NNNN_name.up.sql / NNNN_name.down.sql layout.
var ErrLayout = errors.New("migrations directory layout")

// Classify reads the golang-migrate migrations at the root of fsys (pass
// fs.Sub or os.DirFS for a subdirectory) and classifies every up
// migration, in version order. Files other than *.sql are ignored, so a
// directory that also holds the Go file embedding them can be read as is. A
// directory without any migration gives an empty list and no error.
func Classify(fsys fs.FS) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return nil, fmt.Errorf("read migrations directory: %w", err)
	}
	byVersion := map[uint]*Migration{}
	for _, e := range entries {
		if e.IsDir() || path.Ext(e.Name()) != ".sql" {
			continue
		}
		f, err := source.Parse(e.Name())
		if err != nil {
			return nil, fmt.Errorf("%w: %s is not NNNN_name.up.sql or NNNN_name.down.sql: rename it, or move it out of the migrations directory", ErrLayout, e.Name())
		}
		m := byVersion[f.Version]
		if m == nil {
			m = &Migration{Version: f.Version, Name: f.Identifier}
			byVersion[f.Version] = m
		}
		if m.Name != f.Identifier {
			return nil, fmt.Errorf("%w: version %d is used by %s and %s: give each migration its own number", ErrLayout, f.Version, m.File+m.DownFile, e.Name())
		}
		switch f.Direction {
		case source.Up:
			if m.File != "" {
				return nil, fmt.Errorf("%w: version %d has two up files, %s and %s", ErrLayout, f.Version, m.File, e.Name())
			}
			m.File = e.Name()
		case source.Down:
			if m.DownFile != "" {
				return nil, fmt.Errorf("%w: version %d has two down files, %s and %s", ErrLayout, f.Version, m.DownFile, e.Name())
			}
			m.DownFile = e.Name()
		}
	}

	var out []Migration
	t := newTracker()
	for _, v := range slices.Sorted(maps.Keys(byVersion)) {
		m := byVersion[v]
		if m.File == "" {
			return nil, fmt.Errorf("%w: %s has no up file %04d_%s.up.sql: a down migration alone cannot be applied", ErrLayout, m.DownFile, v, m.Name)
		}
		body, err := fs.ReadFile(fsys, m.File)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", m.File, err)
		}
		m.Changes = t.classifyFile(string(body))
		m.Kind = Expand
		for _, c := range m.Changes {
			if c.Kind == Contract {
				m.Kind = Contract
			}
		}
		out = append(out, *m)
	}
	return out, nil
}

// Latest is the highest version in migs, 0 when there is none: the schema
// version an image whose migrations these are ends at.
func Latest(migs []Migration) uint {
	var v uint
	for _, m := range migs {
		v = max(v, m.Version)
	}
	return v
}

// ErrUnknownVersion is returned (wrapped) by Between when the applied
// schema version is not one of the migrations it was given.
var ErrUnknownVersion = errors.New("unknown schema version")

// Verdict is the answer to "may the environment, whose schema is at From,
// run an image whose migrations end at To?".
type Verdict struct {
	// From is the schema version applied in the environment.
	From uint
	// To is the schema version of the image rolled back to.
	To uint
	// Crossed are the migrations in (To, From], in version order: those
	// that stay applied under the older image.
	Crossed []Migration
	// Blocking are the contract migrations among Crossed.
	Blocking []Migration
}

// Allowed reports whether every crossed migration is expand-only.
func (v Verdict) Allowed() bool { return len(v.Blocking) == 0 }

// Between decides a rollback from schema version from (what the
// environment's migration hook applied) to version to (what the target
// image's migrations end at). migs are the newer image's migrations, which
// include every version in between. to ≥ from crosses nothing and is
// allowed. It returns ErrUnknownVersion when from > 0 is not in migs: the
// schema was migrated by migrations these are not, so nothing can be said.
func Between(migs []Migration, from, to uint) (Verdict, error) {
	v := Verdict{From: from, To: to}
	if to >= from {
		return v, nil
	}
	if !slices.ContainsFunc(migs, func(m Migration) bool { return m.Version == from }) {
		return v, fmt.Errorf("%w: the environment's schema is at version %d, but the migrations read end at %d and do not include it: read the migrations of the image that applied version %d", ErrUnknownVersion, from, Latest(migs), from)
	}
	for _, m := range migs {
		if m.Version > to && m.Version <= from {
			v.Crossed = append(v.Crossed, m)
			if m.Kind == Contract {
				v.Blocking = append(v.Blocking, m)
			}
		}
	}
	return v, nil
}

// Message explains the verdict to the person rolling back: what stays
// applied, and when refused, the changes in the way and the two ways out.
func (v Verdict) Message() string {
	if len(v.Crossed) == 0 {
		return fmt.Sprintf("schema: the environment is at version %d and the image expects %d: no migration stays applied that the image does not know", v.From, v.To)
	}
	if v.Allowed() {
		return fmt.Sprintf("schema: migrations %s stay applied (version %d) and only expand the schema, so the image built for version %d runs on it unchanged",
			versions(v.Crossed), v.From, v.To)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "schema: the environment is at version %d and the image expects %d; migration%s %s contract%s the schema, so the older image may fail on it:\n",
		v.From, v.To, plural(len(v.Blocking), "", "s"), versions(v.Blocking), plural(len(v.Blocking), "s", ""))
	for _, m := range v.Blocking {
		for _, line := range m.Blockers() {
			b.WriteString("  " + line + "\n")
		}
	}
	fmt.Fprintf(&b, "Two ways out:\n")
	fmt.Fprintf(&b, "  - roll forward: fix the release and deploy a newer version instead of rolling back;\n")
	fmt.Fprintf(&b, "  - migrate down, then roll back: smpctl rollback --migrations DIR --migrate-down (database in SMP_DATABASE_DSN) runs the newer image's down migrations %d → %d first (data written only to what they remove is lost)", v.From, v.To)
	return b.String()
}

func versions(migs []Migration) string {
	var s []string
	for _, m := range migs {
		s = append(s, fmt.Sprintf("%04d", m.Version))
	}
	return strings.Join(s, ", ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
