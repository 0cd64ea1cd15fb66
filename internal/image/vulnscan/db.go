// Package vulnscan runs govulncheck against a vulnerability database built
// offline, and turns its findings into a gate.
//
// The database comes from the golang.org/x/vulndb module (fetched through
// the Go module proxy, the only network this project's machines reach): its
// data/osv/*.json entries are indexed into the layout govulncheck reads with
// -db file:///DIR (ID/<id>.json, index/db.json, index/modules.json,
// index/vulns.json). The database date is the vulndb module's commit time,
// which every scan prints.
//
// Only reachable vulnerabilities fail the gate: govulncheck's symbol-level
// findings, where the vulnerable function is called. Go's database carries
// no severities, so an entry without one is judged at the severity the
// caller chooses for unknowns (default critical: fail closed). A scan that
// could not run is an error, never a pass.
package vulnscan

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/smp/delivery/internal/fault"
)

// DefaultVulnDB is the pinned golang.org/x/vulndb version (docs/tools.md).
const DefaultVulnDB = "v0.0.0-20261105234957-e22db6528018"

// ErrBadInput marks a request the user must fix (exit 2).
var ErrBadInput = fault.Invalidf("invalid scan input")

// osvEntry is the part of an OSV entry the indexer reads.
type osvEntry struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases"`
	Affected []struct {
		Package struct {
			Name string `json:"name"`
		} `json:"package"`
	} `json:"affected"`
}

type dbMeta struct {
	Modified time.Time `json:"modified"`
}

type moduleVuln struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	// Fixed is omitted on purpose: it only lets govulncheck skip entries
	// early; without it every entry of the module is read and matched
	// exactly, which is slower by milliseconds and never wrong.
}

type moduleMeta struct {
	Path  string       `json:"path"`
	Vulns []moduleVuln `json:"vulns"`
}

type vulnMeta struct {
	ID       string    `json:"id"`
	Modified time.Time `json:"modified"`
	Aliases  []string  `json:"aliases,omitempty"`
}

// DB is a built database.
type DB struct {
	Dir     string    `json:"dir"`
	Date    time.Time `json:"date"`
	Source  string    `json:"source"`
	Entries int       `json:"entries"`
}

// URL is the -db argument for govulncheck.
func (d DB) URL() string { return "file://" + d.Dir }

// BuildDB indexes the OSV entries in osvDir into outDir. date is the
// database date (the vulndb commit time); source says where it came from.
func BuildDB(osvDir, outDir string, date time.Time, source string) (*DB, error) {
	files, err := filepath.Glob(filepath.Join(osvDir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("%w: no OSV entries (*.json) in %s", ErrBadInput, osvDir)
	}
	sort.Strings(files)
	if err := os.MkdirAll(filepath.Join(outDir, "ID"), 0o755); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(outDir, "index"), 0o755); err != nil {
		return nil, err
	}
	modules := map[string]*moduleMeta{}
	var vulns []vulnMeta
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var e osvEntry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("%w: OSV entry %s: %w", ErrBadInput, f, err)
		}
		if e.ID == "" || filepath.Base(f) != e.ID+".json" || strings.ContainsAny(e.ID, `/\`) {
			return nil, fmt.Errorf("%w: %s: an OSV entry must be named <id>.json (id %q)", ErrBadInput, f, e.ID)
		}
		if err := os.WriteFile(filepath.Join(outDir, "ID", e.ID+".json"), b, 0o644); err != nil { //nolint:gosec // e.ID equals the file name checked above: no separators
			return nil, err
		}
		vulns = append(vulns, vulnMeta{ID: e.ID, Modified: e.Modified, Aliases: e.Aliases})
		seen := map[string]bool{}
		for _, a := range e.Affected {
			p := a.Package.Name
			if p == "" || seen[p] {
				continue
			}
			seen[p] = true
			if modules[p] == nil {
				modules[p] = &moduleMeta{Path: p}
			}
			modules[p].Vulns = append(modules[p].Vulns, moduleVuln{ID: e.ID, Modified: e.Modified})
		}
	}
	mods := make([]*moduleMeta, 0, len(modules))
	for _, m := range modules {
		mods = append(mods, m)
	}
	sort.Slice(mods, func(i, j int) bool { return mods[i].Path < mods[j].Path })
	for name, v := range map[string]any{"db": dbMeta{Modified: date.UTC()}, "modules": mods, "vulns": vulns} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(outDir, "index", name+".json"), b, 0o644); err != nil {
			return nil, err
		}
	}
	abs, err := filepath.Abs(outDir)
	if err != nil {
		return nil, err
	}
	meta := &DB{Dir: abs, Date: date.UTC(), Source: source, Entries: len(vulns)}
	b, _ := json.Marshal(meta)
	if err := os.WriteFile(filepath.Join(outDir, "smpctl-db.json"), b, 0o644); err != nil {
		return nil, err
	}
	return meta, nil
}

// OpenDB reads a database built by BuildDB.
func OpenDB(dir string) (*DB, error) {
	b, err := os.ReadFile(filepath.Join(dir, "smpctl-db.json"))
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not a database built by smpctl scan (%w): give none to build one from golang.org/x/vulndb", ErrBadInput, dir, err)
	}
	var db DB
	if err := json.Unmarshal(b, &db); err != nil {
		return nil, fmt.Errorf("%w: %s/smpctl-db.json: %w", ErrBadInput, dir, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	db.Dir = abs // the directory may have been renamed since it was built
	return &db, nil
}

// PseudoVersionTime reads the commit time of a pseudo-version
// (v0.0.0-20261105234957-e22db6528018 → 2026-11-05T23:49:57Z).
func PseudoVersionTime(v string) (time.Time, error) {
	parts := strings.Split(v, "-")
	if len(parts) < 3 {
		return time.Time{}, fmt.Errorf("%w: %q is not a pseudo-version", ErrBadInput, v)
	}
	ts := parts[len(parts)-2]
	if i := strings.LastIndexByte(ts, '.'); i >= 0 {
		ts = ts[i+1:]
	}
	t, err := time.Parse("20060102150405", ts)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %q is not a pseudo-version: %w", ErrBadInput, v, err)
	}
	return t, nil
}

// FetchDB downloads golang.org/x/vulndb@version through the Go module proxy
// (go mod download) and builds the database under cacheDir/<version>,
// reusing it when it is already there.
func FetchDB(ctx context.Context, goCmd, version, cacheDir string) (*DB, error) {
	date, err := PseudoVersionTime(version)
	if err != nil {
		return nil, err
	}
	out := filepath.Join(cacheDir, version)
	if db, err := OpenDB(out); err == nil {
		return db, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "mod", "download", "-json", "golang.org/x/vulndb@"+version)
	cmd.Dir = os.TempDir() // outside any module: go mod download needs none
	b, err := cmd.Output()
	var dl struct{ Dir, Error string }
	_ = json.Unmarshal(b, &dl)
	if err != nil {
		return nil, fmt.Errorf("download golang.org/x/vulndb@%s: %w %s", version, err, dl.Error)
	}
	if dl.Dir == "" {
		return nil, fmt.Errorf("download golang.org/x/vulndb@%s: %s", version, dl.Error)
	}
	// Each build has a directory of its own, renamed into place whole: two
	// scans sharing a cache (parallel jobs on one runner) once built into
	// the same <version>.tmp, and one renamed it away while the other was
	// still writing ("open …/index/vulns.json: no such file or directory").
	// The first rename wins; a later build finds the database in place and
	// uses it.
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return nil, fmt.Errorf("vulnerability database cache: %w", err)
	}
	tmp, err := os.MkdirTemp(cacheDir, version+".tmp-")
	if err != nil {
		return nil, fmt.Errorf("vulnerability database cache: %w", err)
	}
	defer os.RemoveAll(tmp) // gone after the rename; what a failed build left otherwise
	db, err := BuildDB(filepath.Join(dl.Dir, "data", "osv"), tmp, date, "golang.org/x/vulndb@"+version)
	if err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, out); err != nil {
		if theirs, oerr := OpenDB(out); oerr == nil {
			return theirs, nil
		}
		return nil, fmt.Errorf("vulnerability database cache: %w", err)
	}
	db.Dir = out
	return db, nil
}

// severity reads database_specific.severity (GHSA style: LOW, MODERATE,
// HIGH, CRITICAL) of an entry; "" when the entry has none, as every entry
// of Go's own database.
func (d DB) severity(id string) string {
	b, err := os.ReadFile(filepath.Join(d.Dir, "ID", filepath.Base(id)+".json"))
	if err != nil {
		return ""
	}
	var e struct {
		DatabaseSpecific struct {
			Severity string `json:"severity"`
		} `json:"database_specific"`
	}
	if json.Unmarshal(b, &e) != nil {
		return ""
	}
	return strings.ToLower(e.DatabaseSpecific.Severity)
}
