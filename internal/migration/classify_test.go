package migration_test

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/smp/delivery/internal/migration"
)

// orderSvcMigrations is order-svc's real migrations directory (a module of
// its own in the go.work, read here by path).
const orderSvcMigrations = "../../examples/order-svc/migrations"

func TestOrderSvcMigrationsAreClassified(t *testing.T) {
	migs, err := migration.Classify(os.DirFS(orderSvcMigrations))
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		file    string
		kind    migration.Kind
		changes []migration.Change
	}
	e := func(sql, reason string) migration.Change {
		return migration.Change{SQL: sql, Kind: migration.Expand, Reason: reason}
	}
	c := func(sql, reason string) migration.Change {
		return migration.Change{SQL: sql, Kind: migration.Contract, Reason: reason}
	}
	wants := []want{
		{"0001_create_services.up.sql", migration.Expand, []migration.Change{e("CREATE TABLE services", "creates a table")}},
		{"0002_create_orders.up.sql", migration.Expand, []migration.Change{e("CREATE TABLE orders", "creates a table")}},
		{"0003_seed_catalog.up.sql", migration.Expand, []migration.Change{e("INSERT INTO services", "inserts rows")}},
		{"0004_services_add_base_price_vnd.up.sql", migration.Expand, []migration.Change{
			e("ALTER TABLE services ADD COLUMN base_price_vnd BIGINT NULL AFTER price", "adds a nullable column")}},
		{"0005_services_backfill_base_price_vnd.up.sql", migration.Expand, []migration.Change{
			e("UPDATE services SET base_price_vnd", "backfills column base_price_vnd, added by an earlier migration")}},
		{"0006_services_drop_price.up.sql", migration.Contract, []migration.Change{
			c("ALTER TABLE services MODIFY COLUMN base_price_vnd BIGINT NOT NULL", "makes the column NOT NULL: older code may write NULL to it"),
			c("ALTER TABLE services DROP COLUMN price", "drops a column"),
			c("ALTER TABLE services ADD CONSTRAINT chk_services_base_price_vnd CHECK (base_price_vnd >= 0)", "adds a CHECK constraint: older code may write rows it refuses"),
		}},
	}
	if len(migs) != len(wants) {
		t.Fatalf("got %d migrations, want %d", len(migs), len(wants))
	}
	for i, w := range wants {
		m := migs[i]
		if m.Version != uint(i+1) || m.File != w.file || m.DownFile != strings.Replace(w.file, ".up.", ".down.", 1) {
			t.Errorf("migration %d: version %d, files %s and %s; want %s and its down file", i, m.Version, m.File, m.DownFile, w.file)
		}
		if m.Kind != w.kind {
			t.Errorf("%s is %s, want %s", m.File, m.Kind, w.kind)
		}
		if !reflect.DeepEqual(m.Changes, w.changes) {
			t.Errorf("%s changes:\n got %q\nwant %q", m.File, m.Changes, w.changes)
		}
	}
	if got := migration.Latest(migs); got != 6 {
		t.Errorf("Latest = %d, want 6", got)
	}
	wantBlockers := []string{
		"0006_services_drop_price.up.sql: ALTER TABLE services MODIFY COLUMN base_price_vnd BIGINT NOT NULL: makes the column NOT NULL: older code may write NULL to it",
		"0006_services_drop_price.up.sql: ALTER TABLE services DROP COLUMN price: drops a column",
		"0006_services_drop_price.up.sql: ALTER TABLE services ADD CONSTRAINT chk_services_base_price_vnd CHECK (base_price_vnd >= 0): adds a CHECK constraint: older code may write rows it refuses",
	}
	if got := migs[5].Blockers(); !reflect.DeepEqual(got, wantBlockers) {
		t.Errorf("Blockers of 0006:\n got %q\nwant %q", got, wantBlockers)
	}
}

// setup is the schema every rule case starts from, as an earlier migration:
// t(a INT NOT NULL, n VARCHAR(64) NULL, d DECIMAL(10,2) NOT NULL DEFAULT 0,
// e ENUM, ts DATETIME(3)), plus u.x added by ADD COLUMN (so an UPDATE of it
// is a backfill).
const setup = `CREATE TABLE t (
	id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
	a INT NOT NULL,
	n VARCHAR(64) NULL,
	d DECIMAL(10,2) NOT NULL DEFAULT 0,
	e ENUM('x','y') NOT NULL DEFAULT 'x',
	big BIGINT NOT NULL,
	tx TEXT,
	ts DATETIME(3) NULL,
	KEY idx_a (a)
);
CREATE TABLE u (id INT NOT NULL PRIMARY KEY);
ALTER TABLE u ADD COLUMN x INT NULL;`

func TestRules(t *testing.T) {
	cases := []struct {
		name   string
		sql    string
		kind   migration.Kind
		reason string // a substring of the first change's reason
	}{
		// Expand.
		{"creating a table is expand", "CREATE TABLE v (id INT PRIMARY KEY)", migration.Expand, "creates a table"},
		{"creating a table like another is expand", "CREATE TABLE v LIKE t", migration.Expand, "creates a table"},
		{"creating a table if missing is expand", "CREATE TABLE IF NOT EXISTS t (id INT)", migration.Expand, "creates a table if it is missing"},
		{"creating an index is expand", "CREATE INDEX idx_n ON t (n)", migration.Expand, "adds an index"},
		{"adding a key is expand", "ALTER TABLE t ADD KEY idx_n (n)", migration.Expand, "adds an index"},
		{"adding a fulltext index is expand", "ALTER TABLE t ADD FULLTEXT INDEX ft_n (n)", migration.Expand, "adds an index"},
		{"adding a nullable column is expand", "ALTER TABLE t ADD COLUMN c INT", migration.Expand, "adds a nullable column"},
		{"adding an explicitly NULL column is expand", "ALTER TABLE t ADD COLUMN c INT NULL", migration.Expand, "adds a nullable column"},
		{"adding a NOT NULL column with a default is expand", "ALTER TABLE t ADD COLUMN c INT NOT NULL DEFAULT 0", migration.Expand, "with a default"},
		{"adding a generated column is expand", "ALTER TABLE t ADD COLUMN c INT AS (a + 1) VIRTUAL", migration.Expand, "generated column"},
		{"widening an INT to a BIGINT is expand", "ALTER TABLE t MODIFY COLUMN a BIGINT NOT NULL", migration.Expand, "widens the column from INT to BIGINT"},
		{"lengthening a VARCHAR is expand", "ALTER TABLE t MODIFY n VARCHAR(200) NULL", migration.Expand, "widens the column from VARCHAR(64) to VARCHAR(200)"},
		{"widening a DECIMAL is expand", "ALTER TABLE t MODIFY d DECIMAL(12,2) NOT NULL DEFAULT 0", migration.Expand, "widens"},
		{"growing TEXT to MEDIUMTEXT is expand", "ALTER TABLE t MODIFY tx MEDIUMTEXT", migration.Expand, "widens"},
		{"appending an ENUM value is expand", "ALTER TABLE t MODIFY e ENUM('x','y','z') NOT NULL DEFAULT 'x'", migration.Expand, "widens"},
		{"more fractional seconds is expand", "ALTER TABLE t MODIFY ts DATETIME(6) NULL", migration.Expand, "widens"},
		{"restating an inline primary key column is expand", "ALTER TABLE t MODIFY id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY", migration.Expand, "keeps the column's type"},
		{"changing only a column's comment is expand", "ALTER TABLE t MODIFY a INT NOT NULL COMMENT 'the a'", migration.Expand, "keeps the column's type"},
		{"setting a default is expand", "ALTER TABLE t ALTER COLUMN a SET DEFAULT 1", migration.Expand, "sets the column's default"},
		{"changing the engine is expand", "ALTER TABLE t ENGINE=InnoDB", migration.Expand, "table options"},
		{"seeding rows is expand", "INSERT INTO t (a, big) VALUES (1, 2), (3, 4)", migration.Expand, "inserts rows"},
		{"copying rows with INSERT SELECT is expand", "INSERT INTO u (id) SELECT id FROM t", migration.Expand, "inserts rows"},
		{"backfilling a column an earlier migration added is expand", "UPDATE u SET x = id WHERE x IS NULL", migration.Expand, "backfills column x"},
		{"creating a view is expand", "CREATE VIEW tv AS SELECT a FROM t", migration.Expand, "creates a view"},
		{"a SET statement is expand", "SET @x = 1", migration.Expand, "changes no schema"},
		{"a comment-only file is expand and has no change", "-- nothing yet\n/* still nothing */", migration.Expand, ""},

		// Contract.
		{"dropping a table is contract", "DROP TABLE u", migration.Contract, "drops a table"},
		{"dropping a column is contract", "ALTER TABLE t DROP COLUMN n", migration.Contract, "drops a column"},
		{"dropping an index is contract", "DROP INDEX idx_a ON t", migration.Contract, "drops an index"},
		{"dropping a key is contract", "ALTER TABLE t DROP KEY idx_a", migration.Contract, "drops an index"},
		{"dropping the primary key is contract", "ALTER TABLE u DROP PRIMARY KEY", migration.Contract, "drops the primary key"},
		{"dropping a foreign key is contract", "ALTER TABLE t DROP FOREIGN KEY fk_x", migration.Contract, "drops a foreign key"},
		{"dropping a check is contract", "ALTER TABLE t DROP CHECK chk_x", migration.Contract, "drops a CHECK constraint"},
		{"renaming a table is contract", "RENAME TABLE t TO t2", migration.Contract, "renames a table"},
		{"renaming a table with ALTER is contract", "ALTER TABLE t RENAME TO t2", migration.Contract, "renames the table"},
		{"renaming a column is contract", "ALTER TABLE t RENAME COLUMN n TO name", migration.Contract, "renames a column"},
		{"renaming a column with CHANGE is contract", "ALTER TABLE t CHANGE n name VARCHAR(64) NULL", migration.Contract, "renames a column"},
		{"renaming an index is contract", "ALTER TABLE t RENAME INDEX idx_a TO idx_b", migration.Contract, "renames an index"},
		{"narrowing a VARCHAR is contract", "ALTER TABLE t MODIFY n VARCHAR(32) NULL", migration.Contract, "VARCHAR(64) to VARCHAR(32), which is not a widening"},
		{"narrowing a BIGINT to an INT is contract", "ALTER TABLE t MODIFY big INT NOT NULL", migration.Contract, "not a widening"},
		{"changing a number to a string is contract", "ALTER TABLE t MODIFY a VARCHAR(20) NOT NULL", migration.Contract, "not a widening"},
		{"dropping an ENUM value is contract", "ALTER TABLE t MODIFY e ENUM('x') NOT NULL DEFAULT 'x'", migration.Contract, "not a widening"},
		{"making a column NOT NULL is contract even with a default", "ALTER TABLE t MODIFY n VARCHAR(64) NOT NULL DEFAULT ''", migration.Contract, "makes the column NOT NULL"},
		{"making a column nullable is contract", "ALTER TABLE t MODIFY a INT NULL", migration.Contract, "makes the column nullable"},
		{"dropping a NOT NULL column's default through MODIFY is contract", "ALTER TABLE t MODIFY d DECIMAL(10,2) NOT NULL", migration.Contract, "drops the column's default"},
		{"modifying a column no migration defined is contract", "ALTER TABLE t MODIFY ghost INT", migration.Contract, "earlier migrations do not define"},
		{"adding a NOT NULL column without a default is contract", "ALTER TABLE t ADD COLUMN c INT NOT NULL", migration.Contract, "NOT NULL column without a DEFAULT"},
		{"adding a unique column is contract", "ALTER TABLE t ADD COLUMN c INT UNIQUE", migration.Contract, "unique column"},
		{"adding a unique index is contract", "CREATE UNIQUE INDEX uq_n ON t (n)", migration.Contract, "unique index"},
		{"adding a primary key is contract", "ALTER TABLE u ADD PRIMARY KEY (id)", migration.Contract, "primary key"},
		{"adding a foreign key is contract", "ALTER TABLE t ADD CONSTRAINT fk FOREIGN KEY (a) REFERENCES u (id)", migration.Contract, "adds a foreign key"},
		{"adding a check is contract", "ALTER TABLE t ADD CONSTRAINT chk CHECK (a > 0)", migration.Contract, "adds a CHECK constraint"},
		{"dropping a default is contract", "ALTER TABLE t ALTER COLUMN d DROP DEFAULT", migration.Contract, "drops the column's default"},
		{"converting the character set is contract", "ALTER TABLE t CONVERT TO CHARACTER SET latin1", migration.Contract, "character set"},
		{"dropping a partition is contract", "ALTER TABLE t DROP PARTITION p0", migration.Contract, "changes partitions"},
		{"truncating is contract", "TRUNCATE TABLE t", migration.Contract, "removes every row"},
		{"deleting rows is contract", "DELETE FROM t WHERE a = 1", migration.Contract, "deletes rows"},
		{"updating a column older code reads is contract", "UPDATE t SET a = a * 100", migration.Contract, "rewrites column a, which older code already reads"},
		{"updating a column no migration defined is contract", "UPDATE t SET ghost = 1", migration.Contract, "do not define"},
		{"updating two tables at once is contract", "UPDATE t, u SET t.a = 1 WHERE t.id = u.id", migration.Contract, "several tables"},
		{"an upsert is contract", "INSERT INTO u (id) VALUES (1) ON DUPLICATE KEY UPDATE id = 1", migration.Contract, "rewrites existing rows"},
		{"REPLACE is contract", "REPLACE INTO u (id) VALUES (1)", migration.Contract, "REPLACE deletes and rewrites"},
		{"replacing a view is contract", "CREATE OR REPLACE VIEW tv AS SELECT a FROM t", migration.Contract, "replaces a view"},
		{"dropping a view is contract", "DROP VIEW tv", migration.Contract, "drops a view"},
		{"a statement the classifier does not know is contract", "CREATE DATABASE other", migration.Contract, "not a statement the classifier knows"},
		{"an unparseable statement is contract", "ALTER TABLE t FROBNICATE a", migration.Contract, "the parser cannot read it"},
		{"MariaDB's ADD COLUMN IF NOT EXISTS does not parse and is contract", "ALTER TABLE t ADD COLUMN IF NOT EXISTS c INT", migration.Contract, "the parser cannot read it"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := classifyAfterSetup(t, tc.sql)
			if m.Kind != tc.kind {
				t.Errorf("%q is %s (%q), want %s", tc.sql, m.Kind, m.Changes, tc.kind)
			}
			if tc.reason == "" {
				if len(m.Changes) != 0 {
					t.Errorf("%q gave changes %q, want none", tc.sql, m.Changes)
				}
				return
			}
			if len(m.Changes) == 0 {
				t.Fatalf("%q gave no change", tc.sql)
			}
			if got := m.Changes[0]; !strings.Contains(got.Reason, tc.reason) || got.Kind != tc.kind || got.SQL == "" {
				t.Errorf("%q: first change %s %q, want %s with a reason containing %q", tc.sql, got.Kind, got, tc.kind, tc.reason)
			}
		})
	}
}

func classifyAfterSetup(t *testing.T, sql string) migration.Migration {
	t.Helper()
	migs, err := migration.Classify(fstest.MapFS{
		"0001_setup.up.sql": {Data: []byte(setup)},
		"0002_case.up.sql":  {Data: []byte(sql)},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(migs) != 2 || migs[0].Kind != migration.Expand {
		t.Fatalf("setup: got %+v, want two migrations, the first expand", migs)
	}
	return migs[1]
}

func TestAContractClauseMakesTheWholeAlterContract(t *testing.T) {
	m := classifyAfterSetup(t, "ALTER TABLE t ADD COLUMN c INT NULL, ADD KEY idx_c (c), DROP COLUMN n")
	kinds := []migration.Kind{}
	for _, c := range m.Changes {
		kinds = append(kinds, c.Kind)
	}
	if want := []migration.Kind{migration.Expand, migration.Expand, migration.Contract}; !reflect.DeepEqual(kinds, want) || m.Kind != migration.Contract {
		t.Errorf("changes %q (file %s), want one per clause: expand, expand, contract; file contract", m.Changes, m.Kind)
	}
}

func TestStatementsAreSplitByTheParserNotAtEverySemicolon(t *testing.T) {
	m := classifyAfterSetup(t, "INSERT INTO t (a, big, n) VALUES (1, 2, 'a;b; DROP TABLE t');\n-- a comment; with semicolons\nCREATE INDEX idx_n ON t (n);")
	want := []migration.Change{
		{SQL: "INSERT INTO t", Kind: migration.Expand, Reason: "inserts rows"},
		{SQL: "ALTER TABLE t ADD KEY idx_n (n)", Kind: migration.Expand, Reason: "adds an index"},
	}
	if !reflect.DeepEqual(m.Changes, want) {
		t.Errorf("changes:\n got %q\nwant %q", m.Changes, want)
	}
}

func TestTheTrackerFollowsRenamesAndDrops(t *testing.T) {
	// After the rename, the column is known under its new name only; after
	// the drop and re-add, it is an added column whose UPDATE is a backfill.
	migs, err := migration.Classify(fstest.MapFS{
		"0001_setup.up.sql":  {Data: []byte(setup)},
		"0002_rename.up.sql": {Data: []byte("ALTER TABLE t RENAME COLUMN n TO name")},
		"0003_widen.up.sql":  {Data: []byte("ALTER TABLE t MODIFY name VARCHAR(100) NULL")},
		"0004_old.up.sql":    {Data: []byte("ALTER TABLE t MODIFY n VARCHAR(100) NULL")},
		"0005_move.up.sql":   {Data: []byte("RENAME TABLE t TO t2")},
		"0006_again.up.sql":  {Data: []byte("ALTER TABLE t2 DROP COLUMN a; ALTER TABLE t2 ADD COLUMN a INT NULL; UPDATE t2 SET a = 1")},
	})
	if err != nil {
		t.Fatal(err)
	}
	kinds := []migration.Kind{}
	for _, m := range migs {
		kinds = append(kinds, m.Kind)
	}
	want := []migration.Kind{migration.Expand, migration.Contract, migration.Expand, migration.Contract, migration.Contract, migration.Contract}
	if !reflect.DeepEqual(kinds, want) {
		t.Fatalf("kinds %v, want %v", kinds, want)
	}
	if r := migs[3].Changes[0].Reason; !strings.Contains(r, "do not define") {
		t.Errorf("MODIFY of the old name after a rename: %q, want it unknown", r)
	}
	if c := migs[5].Changes[2]; c.Kind != migration.Expand || !strings.Contains(c.Reason, "backfills") {
		t.Errorf("UPDATE of a re-added column after a table rename: %s", c)
	}
}

func TestBadLayoutsAreRefusedWithTheFileToFix(t *testing.T) {
	cases := []struct {
		name  string
		files fstest.MapFS
		want  string
	}{
		{"a sql file without a version is refused", fstest.MapFS{"schema.sql": {}}, "schema.sql is not NNNN_name.up.sql"},
		{"two names for one version are refused", fstest.MapFS{"0001_a.up.sql": {}, "0001_b.up.sql": {}}, "version 1 is used by"},
		{"a down file without its up file is refused", fstest.MapFS{"0002_a.down.sql": {}}, "0002_a.down.sql has no up file 0002_a.up.sql"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := migration.Classify(tc.files)
			if !errors.Is(err, migration.ErrLayout) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want ErrLayout naming %q", err, tc.want)
			}
		})
	}
}

func TestFilesOtherThanSQLAreIgnoredAndNoMigrationsIsNoError(t *testing.T) {
	migs, err := migration.Classify(fstest.MapFS{"migrations.go": {Data: []byte("package migrations")}, "README.md": {}})
	if err != nil || len(migs) != 0 || migration.Latest(migs) != 0 {
		t.Errorf("Classify = %v, %v; want no migrations, no error, Latest 0", migs, err)
	}
}

func TestAMissingDirectoryIsAnError(t *testing.T) {
	if _, err := migration.Classify(os.DirFS(t.TempDir() + "/nope")); err == nil {
		t.Error("Classify of a missing directory returned no error")
	}
}
