package migrations_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/smp/order-svc/internal/testenv"
	"github.com/smp/order-svc/migrations"
)

var fileName = regexp.MustCompile(`^(\d{4})_([a-z0-9_]+)\.(up|down)\.sql$`)

func TestEveryUpHasADownAndVersionsAreContiguous(t *testing.T) {
	entries, err := fs.ReadDir(migrations.FS(), ".")
	if err != nil {
		t.Fatal(err)
	}
	ups, downs := map[string]bool{}, map[string]bool{}
	versions := map[string]bool{}
	for _, e := range entries {
		m := fileName.FindStringSubmatch(e.Name())
		if m == nil {
			t.Errorf("%s does not match NNNN_name.up.sql / NNNN_name.down.sql", e.Name())
			continue
		}
		base := m[1] + "_" + m[2]
		versions[m[1]] = true
		if m[3] == "up" {
			ups[base] = true
		} else {
			downs[base] = true
		}
		body, err := fs.ReadFile(migrations.FS(), e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSpace(stripComments(string(body))) == "" {
			t.Errorf("%s holds no statement", e.Name())
		}
	}
	for b := range ups {
		if !downs[b] {
			t.Errorf("%s.up.sql has no %s.down.sql: every migration must be reversible", b, b)
		}
	}
	for b := range downs {
		if !ups[b] {
			t.Errorf("%s.down.sql has no %s.up.sql", b, b)
		}
	}
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= int(latest); v++ {
		if !versions[fmt.Sprintf("%04d", v)] {
			t.Errorf("version %04d is missing: versions must be 0001..%04d without gaps", v, latest)
		}
	}
}

func stripComments(sql string) string {
	var b strings.Builder
	for _, line := range strings.Split(sql, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "--") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// TestMigrationsAreReversible runs against a real MySQL-compatible server:
// it records the schema (and reference data) after each up step, then
// checks that down all + up reproduces the final state and that, at every
// version, down 1 and up 1 land exactly on the recorded states.
func TestMigrationsAreReversible(t *testing.T) {
	ctx := context.Background()
	d := testenv.NewDatabase(t)
	r := d.Runner(t)
	latest, err := migrations.Latest()
	if err != nil {
		t.Fatal(err)
	}

	states := []string{dump(t, d.DB)}
	for v := 1; v <= int(latest); v++ {
		if err := r.UpSteps(ctx, 1); err != nil {
			t.Fatalf("up to %d: %v", v, err)
		}
		states = append(states, dump(t, d.DB))
		if states[v] == states[v-1] {
			t.Errorf("migration %d changed neither the schema nor the reference data", v)
		}
	}
	if err := r.Up(ctx); !errors.Is(err, migrations.ErrNoChange) {
		t.Fatalf("second up: got %v, want ErrNoChange", err)
	}

	if err := r.DownAll(ctx); err != nil {
		t.Fatalf("down all: %v", err)
	}
	expectState(t, d.DB, states[0], "after down all")
	if _, _, err := r.Version(); !errors.Is(err, migrations.ErrNoVersion) {
		t.Errorf("version after down all: got %v, want ErrNoVersion", err)
	}
	if err := r.Up(ctx); err != nil {
		t.Fatalf("up after down all: %v", err)
	}
	expectState(t, d.DB, states[latest], "after down all and up")

	for v := int(latest); v >= 1; v-- {
		if err := r.Down(ctx, 1); err != nil {
			t.Fatalf("down 1 from %d: %v", v, err)
		}
		expectState(t, d.DB, states[v-1], fmt.Sprintf("after down 1 from %d", v))
		if err := r.UpSteps(ctx, 1); err != nil {
			t.Fatalf("up 1 from %d: %v", v-1, err)
		}
		expectState(t, d.DB, states[v], fmt.Sprintf("after up 1 from %d", v-1))
		if err := r.Down(ctx, 1); err != nil {
			t.Fatalf("down 1 from %d (second time): %v", v, err)
		}
	}
	if err := r.Up(ctx); err != nil {
		t.Fatalf("final up: %v", err)
	}
	expectState(t, d.DB, states[latest], "after the step-by-step walk and up")
	if v, dirty, err := r.Version(); err != nil || dirty || v != latest {
		t.Errorf("final version = %d dirty=%v err=%v, want %d clean", v, dirty, err, latest)
	}
}

func expectState(t *testing.T, db *sql.DB, want, when string) {
	t.Helper()
	got := dump(t, db)
	if got != want {
		t.Errorf("schema %s differs from the recorded one (-want +got):\n%s", when,
			cmp.Diff(strings.Split(want, "\n"), strings.Split(got, "\n")))
	}
}

var autoIncrement = regexp.MustCompile(` AUTO_INCREMENT=\d+`)

// dump renders every table's definition and the services reference data.
// AUTO_INCREMENT counters are dropped: they are state, not schema.
// created_at/updated_at are left out of the data: they record when a
// migration ran, not what it did.
func dump(t *testing.T, db *sql.DB) string {
	t.Helper()
	ctx := context.Background()
	tables := queryStrings(t, db, `SELECT table_name FROM information_schema.tables
		WHERE table_schema = DATABASE() AND table_name <> 'schema_migrations'`)
	sort.Strings(tables)

	var b strings.Builder
	for _, tbl := range tables {
		var name, create string
		if err := db.QueryRowContext(ctx, "SHOW CREATE TABLE `"+tbl+"`").Scan(&name, &create); err != nil {
			t.Fatalf("show create table %s: %v", tbl, err)
		}
		b.WriteString(autoIncrement.ReplaceAllString(create, "") + ";\n")
	}
	if slices.Contains(tables, "services") {
		b.WriteString(dumpData(t, db, "services"))
	}
	return b.String()
}

func dumpData(t *testing.T, db *sql.DB, table string) string {
	t.Helper()
	var cols []string
	for _, c := range queryStrings(t, db, `SELECT column_name FROM information_schema.columns
		WHERE table_schema = DATABASE() AND table_name = ? AND column_name NOT LIKE '%\_at'
		ORDER BY ordinal_position`, table) {
		cols = append(cols, "COALESCE(CAST(`"+c+"` AS CHAR), 'NULL')")
	}
	q := "SELECT CONCAT_WS(' | ', " + strings.Join(cols, ", ") + ") FROM `" + table + "` ORDER BY 1"
	var b strings.Builder
	for _, line := range queryStrings(t, db, q) {
		b.WriteString(table + ": " + line + "\n")
	}
	return b.String()
}

// queryStrings returns the single string column of every row.
func queryStrings(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.QueryContext(context.Background(), q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return out
}

func TestRunnerRejectsBadStepCounts(t *testing.T) {
	d := testenv.NewDatabase(t)
	r := d.Runner(t)
	ctx := context.Background()
	if err := r.Down(ctx, 0); err == nil {
		t.Error("Down(0) succeeded, want an error")
	}
	if err := r.UpSteps(ctx, 0); err == nil {
		t.Error("UpSteps(0) succeeded, want an error")
	}
	if err := r.Force(-2); err == nil {
		t.Error("Force(-2) succeeded, want an error")
	}
	if err := r.Force(3); err != nil {
		t.Fatalf("Force(3): %v", err)
	}
	if v, dirty, err := r.Version(); err != nil || v != 3 || dirty {
		t.Errorf("after Force(3): version %d dirty=%v err=%v", v, dirty, err)
	}
	if err := r.Force(-1); err != nil {
		t.Fatalf("Force(-1): %v", err)
	}
	if _, _, err := r.Version(); !errors.Is(err, migrations.ErrNoVersion) {
		t.Errorf("after Force(-1): got %v, want ErrNoVersion", err)
	}
}

func TestUpStopsWhenContextIsCancelled(t *testing.T) {
	d := testenv.NewDatabase(t)
	r := d.Runner(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := r.Up(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Up with a cancelled context: got %v, want context.Canceled", err)
	}
}
