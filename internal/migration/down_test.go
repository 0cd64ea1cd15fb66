package migration

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/smp/delivery/internal/testkit/testctx"
)

// These tests run on a real MariaDB (TEST_MYSQL_DSN, default
// root@tcp(127.0.0.1:3306)/): each creates its own database and drops it.
// A server that does not answer fails them; they never skip.

var orderSvcFS = os.DirFS("../../examples/order-svc/migrations")

func newDatabase(t *testing.T) *sql.DB {
	t.Helper()
	ctx := testctx.New(t)
	dsn := os.Getenv("TEST_MYSQL_DSN")
	if dsn == "" {
		dsn = "root@tcp(127.0.0.1:3306)/"
	}
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatalf("TEST_MYSQL_DSN %q is not a MySQL DSN: %v", dsn, err)
	}
	cfg.DBName = ""
	cfg.Timeout = 5 * time.Second
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	if err := admin.PingContext(ctx); err != nil {
		t.Fatalf("MariaDB at %s does not answer (%v): start it (scripts/tools.sh services) or set TEST_MYSQL_DSN", cfg.Addr, err)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "migration_test_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		// t's context has ended when cleanups run: the binary's deadline bounds the drop.
		ctx, cancel := testctx.Main()
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	cfg.DBName = name
	cfg.MultiStatements = true // a migration file holds several statements
	db, err := sql.Open("mysql", cfg.FormatDSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// migrateTo applies fsys's up migrations until version v, with the same
// golang-migrate setup Down uses.
func migrateTo(t *testing.T, db *sql.DB, fsys fs.FS, v uint) {
	t.Helper()
	m, err := open(testctx.New(t), db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := m.Migrate(v); err != nil {
		t.Fatalf("migrate up to %d: %v", v, err)
	}
}

func appliedVersion(t *testing.T, db *sql.DB) (uint, bool) {
	t.Helper()
	m, err := open(testctx.New(t), db, orderSvcFS)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	v, dirty, err := m.Version()
	if err != nil {
		t.Fatalf("read version: %v", err)
	}
	return v, dirty
}

// schema renders what older code depends on: every column (position, type,
// nullability, default, extra, collation), index column, constraint and
// CHECK clause, and the services reference data.
func schema(t *testing.T, db *sql.DB) string {
	t.Helper()
	ctx := testctx.New(t)
	queries := []string{
		`SELECT table_name, column_name, ordinal_position, column_type, is_nullable, COALESCE(column_default, 'NO DEFAULT'), extra, COALESCE(collation_name, '')
		   FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name <> 'schema_migrations'
		  ORDER BY table_name, ordinal_position`,
		`SELECT table_name, index_name, non_unique, seq_in_index, column_name
		   FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name <> 'schema_migrations'
		  ORDER BY table_name, index_name, seq_in_index`,
		`SELECT table_name, constraint_name, constraint_type
		   FROM information_schema.table_constraints WHERE constraint_schema = DATABASE() AND table_name <> 'schema_migrations'
		  ORDER BY table_name, constraint_name`,
		`SELECT table_name, constraint_name, check_clause
		   FROM information_schema.check_constraints WHERE constraint_schema = DATABASE()
		  ORDER BY table_name, constraint_name`,
	}
	var b strings.Builder
	for _, q := range queries {
		b.WriteString(table(ctx, t, db, q))
		b.WriteString("--\n")
	}
	return b.String()
}

// table renders a query's rows, one line each, values tab-separated.
func table(ctx context.Context, t *testing.T, db *sql.DB, q string) string {
	t.Helper()
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for rows.Next() {
		vals := make([]sql.RawBytes, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for _, v := range vals {
			b.WriteString(string(v) + "\t")
		}
		b.WriteString("\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func servicesData(t *testing.T, db *sql.DB) string {
	t.Helper()
	rows, err := db.QueryContext(testctx.New(t), `SELECT id, name, category, price, currency, active FROM services ORDER BY id`)
	if err != nil {
		t.Fatalf("read services as version 3 does: %v", err)
	}
	defer rows.Close()
	var b strings.Builder
	for rows.Next() {
		var id, name, category, price, currency string
		var active bool
		if err := rows.Scan(&id, &name, &category, &price, &currency, &active); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintln(&b, id, name, category, price, currency, active)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestDownFrom6To3RestoresTheSchemaAndDataOfVersion3(t *testing.T) {
	ctx := testctx.New(t)
	at3 := newDatabase(t)
	migrateTo(t, at3, orderSvcFS, 3)
	wantSchema, wantData := schema(t, at3), servicesData(t, at3)
	if !strings.Contains(wantSchema, "services\tprice\t") {
		t.Fatalf("the version 3 schema has no services.price column: the reference is wrong:\n%s", wantSchema)
	}

	db := newDatabase(t)
	migrateTo(t, db, orderSvcFS, 6)
	if s := schema(t, db); s == wantSchema {
		t.Fatal("the schema at 6 equals the one at 3: the comparison cannot tell versions apart")
	}
	if err := Down(ctx, db, orderSvcFS, 6, 3); err != nil {
		t.Fatalf("Down(6, 3): %v", err)
	}
	if got := schema(t, db); got != wantSchema {
		t.Errorf("schema after down 6 → 3:\n%s\nwant (only 1..3 applied):\n%s", got, wantSchema)
	}
	if got := servicesData(t, db); got != wantData {
		t.Errorf("services after down 6 → 3:\n%s\nwant:\n%s", got, wantData)
	}
	if v, dirty := appliedVersion(t, db); v != 3 || dirty {
		t.Errorf("applied version after Down = %d (dirty %v), want 3 clean", v, dirty)
	}
	// db is still the caller's: Down closed only its own connection.
	if err := db.PingContext(ctx); err != nil {
		t.Errorf("db after Down: %v", err)
	}
}

func TestDownToZeroRemovesEveryTable(t *testing.T) {
	ctx := testctx.New(t)
	db := newDatabase(t)
	migrateTo(t, db, orderSvcFS, 6)
	if err := Down(ctx, db, orderSvcFS, 6, 0); err != nil {
		t.Fatalf("Down(6, 0): %v", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name <> 'schema_migrations'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Errorf("%d tables left after Down to 0, want none", n)
	}
}

// TestTheVerdictsHoldOnARealSchema checks the classifier against the
// database: version 3's queries keep working with 0004 and 0005 applied
// (expand, rollback allowed), and stop working once 0006 is (contract,
// refused).
func TestTheVerdictsHoldOnARealSchema(t *testing.T) {
	ctx := testctx.New(t)
	migs, err := Classify(orderSvcFS)
	if err != nil {
		t.Fatal(err)
	}
	if v, err := Between(migs, 5, 3); err != nil || !v.Allowed() {
		t.Fatalf("Between(5, 3) = %v, %v; want allowed", v.Message(), err)
	}
	if v, err := Between(migs, 6, 3); err != nil || v.Allowed() {
		t.Fatalf("Between(6, 3) = %v, %v; want refused", v.Message(), err)
	}

	// Queries written against the version 3 schema (price DECIMAL, no
	// base_price_vnd), as the release before the expand step ran them.
	version3 := func(db *sql.DB, id string) error {
		if _, err := db.ExecContext(ctx, `INSERT INTO services (id, name, category, price, currency, active) VALUES (?, 'Thử', 'delivery', 12000.00, 'VND', TRUE)`, id); err != nil {
			return fmt.Errorf("insert a service: %w", err)
		}
		var price string
		if err := db.QueryRowContext(ctx, `SELECT price FROM services WHERE id = ?`, id).Scan(&price); err != nil {
			return fmt.Errorf("read its price: %w", err)
		}
		if price != "12000.00" {
			return fmt.Errorf("price %s, want 12000.00", price)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO orders (customer_id, service_id, quantity, unit_price_vnd, total_vnd, idempotency_key, request_hash)
			VALUES ('c1', ?, 2, 12000, 24000, ?, REPEAT('a', 64))`, id, "k-"+id); err != nil {
			return fmt.Errorf("insert an order: %w", err)
		}
		return nil
	}

	db := newDatabase(t)
	migrateTo(t, db, orderSvcFS, 5)
	if err := version3(db, "at-5"); err != nil {
		t.Errorf("version 3's queries on the schema at 5 (only expand since 3): %v", err)
	}
	// A fresh database for 6: the row version 3 just wrote has no
	// base_price_vnd, so 0006 would refuse it (see docs/migrations.md).
	db6 := newDatabase(t)
	migrateTo(t, db6, orderSvcFS, 6)
	err = version3(db6, "at-6")
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1054 { // ER_BAD_FIELD_ERROR: unknown column 'price'
		t.Errorf("version 3's queries on the schema at 6: err = %v, want unknown column price (1054)", err)
	}
}

func TestDownRefusesADatabaseNotAtTheVersionItWasToldAndRunsNothing(t *testing.T) {
	ctx := testctx.New(t)
	db := newDatabase(t)
	if err := Down(ctx, db, orderSvcFS, 6, 3); !errors.Is(err, ErrVersionMismatch) || !strings.Contains(err.Error(), "no migration applied") {
		t.Errorf("Down on an empty database: %v, want ErrVersionMismatch saying nothing is applied", err)
	}
	migrateTo(t, db, orderSvcFS, 5)
	if err := Down(ctx, db, orderSvcFS, 6, 3); !errors.Is(err, ErrVersionMismatch) || !strings.Contains(err.Error(), "the database is at version 5") {
		t.Errorf("Down(6, 3) on a database at 5: %v, want ErrVersionMismatch naming 5", err)
	}
	if v, _ := appliedVersion(t, db); v != 5 {
		t.Errorf("version after a refused Down = %d, want 5 (untouched)", v)
	}
	if err := Down(ctx, db, orderSvcFS, 5, 5); err == nil || !strings.Contains(err.Error(), "must be lower") {
		t.Errorf("Down(5, 5): %v, want a refusal", err)
	}
	if _, err := db.ExecContext(ctx, "UPDATE schema_migrations SET dirty = 1"); err != nil {
		t.Fatal(err)
	}
	if err := Down(ctx, db, orderSvcFS, 5, 3); !errors.Is(err, ErrVersionMismatch) || !strings.Contains(err.Error(), "dirty") {
		t.Errorf("Down on a dirty database: %v, want ErrVersionMismatch saying dirty", err)
	}
}

func TestDownRefusesATargetThatIsNotAVersionAndRunsNothing(t *testing.T) {
	ctx := testctx.New(t)
	fsys := fstest.MapFS{
		"0001_a.up.sql":   {Data: []byte("CREATE TABLE a (id INT)")},
		"0001_a.down.sql": {Data: []byte("DROP TABLE a")},
		"0003_c.up.sql":   {Data: []byte("CREATE TABLE c (id INT)")},
		"0003_c.down.sql": {Data: []byte("DROP TABLE c")},
	}
	db := newDatabase(t)
	migrateTo(t, db, fsys, 3)
	if err := Down(ctx, db, fsys, 3, 2); !errors.Is(err, ErrNoSuchVersion) || !strings.Contains(err.Error(), "2 is not a version of these migrations (1, 3)") {
		t.Fatalf("Down(3, 2) with no migration 2: %v, want ErrNoSuchVersion naming 1 and 3", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = 'c'`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Error("table c is gone: Down ran a down migration before refusing the target")
	}
	if err := Down(ctx, db, fsys, 3, 1); err != nil {
		t.Errorf("Down(3, 1): %v", err)
	}
}
