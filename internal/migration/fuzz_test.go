package migration

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"testing/fstest"

	"vitess.io/vitess/go/vt/sqlparser"
)

// ddlGen turns fuzz bytes into DDL from a small MySQL grammar, so the
// fuzzer spends its time on statements the classifier must judge, not on
// byte strings the parser rejects at the first character. Once the bytes
// run out every choice is 0.
type ddlGen struct {
	b []byte
	i int
}

func (g *ddlGen) pick(n int) int {
	if g.i >= len(g.b) {
		return 0
	}
	v := int(g.b[g.i]) % n
	g.i++
	return v
}

func (g *ddlGen) table() string { return fmt.Sprintf("t%d", g.pick(3)) }
func (g *ddlGen) col() string   { return fmt.Sprintf("c%d", g.pick(4)) }

func (g *ddlGen) typ() string {
	switch g.pick(8) {
	case 0:
		return "INT"
	case 1:
		return "BIGINT UNSIGNED"
	case 2:
		return fmt.Sprintf("VARCHAR(%d)", 1+g.pick(255))
	case 3:
		return fmt.Sprintf("DECIMAL(%d,%d)", 10+g.pick(5), g.pick(4))
	case 4:
		return "TEXT"
	case 5:
		return fmt.Sprintf("DATETIME(%d)", g.pick(7))
	case 6:
		return "ENUM('a','b')"
	default:
		return "TINYINT"
	}
}

func (g *ddlGen) null() string { return []string{"", " NULL", " NOT NULL"}[g.pick(3)] }
func (g *ddlGen) dflt() string { return []string{"", " DEFAULT 0", " DEFAULT NULL"}[g.pick(3)] }

// statement kinds, and what the rules say about each whatever the history.
const (
	genCreateTable  = iota // expand: only creates
	genCreateIndex         // expand: only creates
	genAddColumn           // depends on its options
	genModify              // depends on the history
	genInsert              // expand
	genUpdate              // depends on the history
	genDropColumn          // contract
	genRenameColumn        // contract
	genDelete              // contract
	genDropTable           // contract
	genUniqueIndex         // contract
	genCheck               // contract
	genKinds
)

func (g *ddlGen) statement(kind int) string {
	switch kind {
	case genCreateTable:
		return fmt.Sprintf("CREATE TABLE %s (id INT NOT NULL PRIMARY KEY, %s %s%s%s, KEY k (id))", g.table(), g.col(), g.typ(), g.null(), g.dflt())
	case genCreateIndex:
		return fmt.Sprintf("CREATE INDEX i%d ON %s (%s)", g.pick(9), g.table(), g.col())
	case genAddColumn:
		return fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s%s%s", g.table(), g.col(), g.typ(), g.null(), g.dflt())
	case genModify:
		return fmt.Sprintf("ALTER TABLE %s MODIFY COLUMN %s %s%s%s", g.table(), g.col(), g.typ(), g.null(), g.dflt())
	case genInsert:
		return fmt.Sprintf("INSERT INTO %s (%s) VALUES (1), ('x;y')", g.table(), g.col())
	case genUpdate:
		return fmt.Sprintf("UPDATE %s SET %s = 1 WHERE id > 0", g.table(), g.col())
	case genDropColumn:
		return fmt.Sprintf("ALTER TABLE %s DROP COLUMN %s", g.table(), g.col())
	case genRenameColumn:
		return fmt.Sprintf("ALTER TABLE %s RENAME COLUMN %s TO %s", g.table(), g.col(), g.col())
	case genDelete:
		return fmt.Sprintf("DELETE FROM %s WHERE id = 1", g.table())
	case genDropTable:
		return fmt.Sprintf("DROP TABLE %s", g.table())
	case genUniqueIndex:
		return fmt.Sprintf("CREATE UNIQUE INDEX u%d ON %s (%s)", g.pick(9), g.table(), g.col())
	default:
		return fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT ck%d CHECK (%s > 0)", g.table(), g.pick(9), g.col())
	}
}

// FuzzClassifyGeneratedDDL checks the invariants every file must keep:
// Classify never panics; a file is contract exactly when one of its changes
// is; a statement the parser cannot read makes it contract; a file that
// only creates tables and plain indexes is expand; a file with a drop,
// rename, delete, unique index or check is contract.
func FuzzClassifyGeneratedDDL(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{genCreateTable, 0, 1, 2, 2, 0, genCreateIndex, 1, 0, 1})
	f.Add([]byte{genCreateTable, 0, 0, 0, 1, 0, genAddColumn, 0, 1, 1, 1, 0, genUpdate, 0, 1})
	f.Add([]byte{genCreateTable, 1, 2, 3, 1, 1, genModify, 1, 2, 2, 0, 2, genDropColumn, 1, 2})
	f.Add([]byte{genAddColumn + 0x80, 0, 1, 4, 2, 0, 7, genDropTable})
	f.Fuzz(func(t *testing.T, data []byte) {
		g := &ddlGen{b: data}
		var stmts []string
		corrupt, onlyCreates, mustContract := false, true, false
		for n := 0; n < 6 && g.i < len(g.b); n++ {
			kind := g.pick(256)
			corrupted := kind >= 0xe0 // one in eight: trailing garbage
			kind %= genKinds
			s := g.statement(kind)
			if corrupted {
				s += " )("
				corrupt = true
			} else if kind >= genDropColumn {
				mustContract = true
			}
			if kind != genCreateTable && kind != genCreateIndex {
				onlyCreates = false
			}
			sep := []string{";\n", "; -- a comment; with semicolons\n", ";/* c; */\n"}[g.pick(3)]
			stmts = append(stmts, s+sep)
		}
		body := strings.Join(stmts, "")
		migs, err := Classify(fstest.MapFS{"0001_fuzz.up.sql": {Data: []byte(body)}})
		if err != nil {
			t.Fatalf("Classify: %v\n%s", err, body)
		}
		if len(migs) != 1 {
			t.Fatalf("got %d migrations, want 1", len(migs))
		}
		checkConsistent(t, migs[0], body)
		m := migs[0]
		switch {
		case corrupt && m.Kind != Contract:
			t.Errorf("a file with an unparseable statement is %s:\n%s\n%q", m.Kind, body, m.Changes)
		case corrupt && !hasReason(m, "the parser cannot"):
			t.Errorf("no change says the parser could not read it:\n%s\n%q", body, m.Changes)
		case !corrupt && onlyCreates && m.Kind != Expand:
			t.Errorf("a file that only creates is %s:\n%s\n%q", m.Kind, body, m.Changes)
		case !corrupt && mustContract && m.Kind != Contract:
			t.Errorf("a file that drops, renames, deletes or adds a rule is %s:\n%s\n%q", m.Kind, body, m.Changes)
		}
	})
}

// FuzzClassifyRawSQL feeds arbitrary text: whatever it is, Classify must
// not panic, and when any statement of it does not parse, the migration is
// contract.
func FuzzClassifyRawSQL(f *testing.F) {
	f.Add("CREATE TABLE t (id INT)")
	f.Add("ALTER TABLE t ADD COLUMN c INT NOT NULL; DROP TABLE u")
	f.Add("INSERT INTO t VALUES ('a;b'); -- ;\n UPDATE t SET c = 1")
	f.Add("ALTER TABLE t MODIFY c")
	f.Add("'unterminated")
	f.Fuzz(func(t *testing.T, body string) {
		migs, err := Classify(fstest.MapFS{"0001_fuzz.up.sql": {Data: []byte(body)}})
		if err != nil {
			t.Fatalf("Classify: %v", err)
		}
		checkConsistent(t, migs[0], body)
		pieces, err := split(body)
		unreadable := err != nil
		for _, p := range pieces {
			if _, err := parse(p); err != nil && !errors.Is(err, sqlparser.ErrEmpty) {
				unreadable = true
			}
		}
		if unreadable && migs[0].Kind != Contract {
			t.Errorf("unparseable SQL is %s: %q\n%q", migs[0].Kind, body, migs[0].Changes)
		}
	})
}

func checkConsistent(t *testing.T, m Migration, body string) {
	t.Helper()
	anyContract := false
	for _, c := range m.Changes {
		if c.SQL == "" || c.Reason == "" {
			t.Errorf("a change without SQL or reason: %+v\n%s", c, body)
		}
		anyContract = anyContract || c.Kind == Contract
	}
	if anyContract != (m.Kind == Contract) {
		t.Errorf("file is %s but its changes are %q\n%s", m.Kind, m.Changes, body)
	}
}

func hasReason(m Migration, s string) bool {
	for _, c := range m.Changes {
		if strings.Contains(c.Reason, s) {
			return true
		}
	}
	return false
}
