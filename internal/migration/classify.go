package migration

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"vitess.io/vitess/go/vt/sqlparser"
)

// parser is vitess's MySQL parser at its default server version. MariaDB's
// DDL for tables, columns, indexes and constraints is the MySQL grammar;
// MariaDB-only syntax (ADD COLUMN IF NOT EXISTS, sequences) does not parse
// and is therefore counted as contract, which errs on the safe side.
var parser = func() *sqlparser.Parser {
	p, err := sqlparser.New(sqlparser.Options{})
	if err != nil {
		panic(fmt.Sprintf("vitess sqlparser with its default options: %v", err))
	}
	return p
}()

// column is what the tracker knows of one column: its latest definition,
// and whether an ALTER TABLE … ADD COLUMN created it (which makes an UPDATE
// of it a backfill rather than a rewrite of data older code reads).
type column struct {
	def   *sqlparser.ColumnDefinition
	added bool
}

// tracker replays the migrations' DDL so that a MODIFY can be compared with
// the column's previous definition and an UPDATE with where its column came
// from. It knows only what the migrations say: a table created by other
// means is unknown, and changes to it are judged without history.
type tracker struct {
	tables map[string]map[string]*column
}

func newTracker() *tracker { return &tracker{tables: map[string]map[string]*column{}} }

func tableKey(t sqlparser.TableName) string { return strings.ToLower(t.Name.String()) }

func (t *tracker) column(table sqlparser.TableName, name string) *column {
	return t.tables[tableKey(table)][strings.ToLower(name)]
}

func (t *tracker) setColumn(table sqlparser.TableName, name string, c *column) {
	cols := t.tables[tableKey(table)]
	if cols == nil {
		cols = map[string]*column{}
		t.tables[tableKey(table)] = cols
	}
	cols[strings.ToLower(name)] = c
}

func (t *tracker) dropColumn(table sqlparser.TableName, name string) {
	delete(t.tables[tableKey(table)], strings.ToLower(name))
}

func (t *tracker) renameTable(from, to sqlparser.TableName) {
	t.tables[tableKey(to)] = t.tables[tableKey(from)]
	delete(t.tables, tableKey(from))
}

// classifyFile splits one migration file into statements with the
// parser's own splitter and classifies each.
func (t *tracker) classifyFile(body string) []Change {
	pieces, err := split(body)
	if err != nil {
		return []Change{{SQL: oneLine(body), Kind: Contract,
			Reason: fmt.Sprintf("the parser cannot split it into statements (%v), so it counts as contract", err)}}
	}
	var out []Change
	for _, piece := range pieces {
		stmt, err := parse(piece)
		if errors.Is(err, sqlparser.ErrEmpty) {
			continue
		}
		if err != nil {
			out = append(out, Change{SQL: oneLine(piece), Kind: Contract,
				Reason: fmt.Sprintf("the parser cannot read it (%v), so it counts as contract", err)})
			continue
		}
		if _, ok := stmt.(*sqlparser.CommentOnly); ok {
			continue
		}
		out = append(out, t.classify(stmt)...)
	}
	return out
}

// split and parse call the parser and turn a panic into an error:
// vitess v0.24.4's SplitStatementToPieces panics on an unterminated string
// holding a ';' (found by FuzzClassifyRawSQL, kept in its corpus), and a
// migration the parser chokes on must count as contract, not crash smpctl.
func split(body string) (pieces []string, err error) {
	defer func() {
		if r := recover(); r != nil {
			pieces, err = nil, fmt.Errorf("the parser failed: %v", r)
		}
	}()
	return parser.SplitStatementToPieces(body)
}

func parse(sql string) (stmt sqlparser.Statement, err error) {
	defer func() {
		if r := recover(); r != nil {
			stmt, err = nil, fmt.Errorf("the parser failed: %v", r)
		}
	}()
	return parser.ParseStrictDDL(sql)
}

func expand(sql, reason string) Change   { return Change{SQL: sql, Kind: Expand, Reason: reason} }
func contract(sql, reason string) Change { return Change{SQL: sql, Kind: Contract, Reason: reason} }

// classify judges one parsed statement and records its DDL in the tracker.
func (t *tracker) classify(stmt sqlparser.Statement) []Change {
	switch s := stmt.(type) {
	case *sqlparser.CreateTable:
		return []Change{t.createTable(s)}
	case *sqlparser.AlterTable:
		return t.alterTable(s)
	case *sqlparser.DropTable:
		for _, tn := range s.FromTables {
			delete(t.tables, tableKey(tn))
		}
		return []Change{contract(format(s), "drops a table")}
	case *sqlparser.RenameTable:
		for _, p := range s.TablePairs {
			t.renameTable(p.FromTable, p.ToTable)
		}
		return []Change{contract(format(s), "renames a table: older code still uses the old name")}
	case *sqlparser.TruncateTable:
		return []Change{contract(format(s), "removes every row")}
	case *sqlparser.CreateView:
		if s.IsReplace {
			return []Change{contract("CREATE OR REPLACE VIEW "+format(s.ViewName), "replaces a view older code may read")}
		}
		return []Change{expand("CREATE VIEW "+format(s.ViewName), "creates a view")}
	case *sqlparser.AlterView:
		return []Change{contract("ALTER VIEW "+format(s.ViewName), "changes a view older code may read")}
	case *sqlparser.DropView:
		return []Change{contract(format(s), "drops a view")}
	case *sqlparser.CreateProcedure:
		return []Change{expand("CREATE PROCEDURE "+format(s.Name), "creates a procedure")}
	case *sqlparser.DropProcedure:
		return []Change{contract(format(s), "drops a procedure")}
	case *sqlparser.Insert:
		return []Change{classifyInsert(s)}
	case *sqlparser.Update:
		return []Change{t.classifyUpdate(s)}
	case *sqlparser.Delete:
		return []Change{contract(short(format(s)), "deletes rows older code may need")}
	case *sqlparser.Set, sqlparser.TableStatement:
		return []Change{expand(short(format(s)), "changes no schema and no data")}
	default:
		return []Change{contract(short(format(s)), "not a statement the classifier knows, so it counts as contract")}
	}
}

func (t *tracker) createTable(s *sqlparser.CreateTable) Change {
	name := "CREATE TABLE " + format(s.Table)
	if s.IfNotExists && t.tables[tableKey(s.Table)] != nil {
		return expand(name, "creates a table if it is missing")
	}
	t.tables[tableKey(s.Table)] = map[string]*column{}
	switch {
	case s.TableSpec != nil:
		for _, c := range s.TableSpec.Columns {
			t.setColumn(s.Table, c.Name.String(), &column{def: c})
		}
	case s.OptLike != nil:
		for k, c := range t.tables[tableKey(s.OptLike.LikeTable)] {
			t.tables[tableKey(s.Table)][k] = &column{def: c.def}
		}
	}
	return expand(name, "creates a table")
}

// clause renders one ALTER TABLE clause as its own statement, so a reason
// names exactly the part of a multi-clause ALTER it is about.
func clause(s *sqlparser.AlterTable, opt sqlparser.AlterOption) string {
	return format(&sqlparser.AlterTable{Table: s.Table, AlterOptions: []sqlparser.AlterOption{opt}})
}

func (t *tracker) alterTable(s *sqlparser.AlterTable) []Change {
	var out []Change
	for _, opt := range s.AlterOptions {
		if add, ok := opt.(*sqlparser.AddColumns); ok {
			// One change per column: a reason is about one column.
			for _, c := range add.Columns {
				sql := clause(s, &sqlparser.AddColumns{Columns: []*sqlparser.ColumnDefinition{c}, First: add.First, After: add.After})
				out = append(out, addColumn(sql, c))
				t.setColumn(s.Table, c.Name.String(), &column{def: c, added: true})
			}
			continue
		}
		out = append(out, t.alterOption(s, opt, clause(s, opt)))
	}
	if ps := s.PartitionSpec; ps != nil {
		sql := format(&sqlparser.AlterTable{Table: s.Table, PartitionSpec: ps})
		if ps.Action == sqlparser.AddAction {
			out = append(out, expand(sql, "adds a partition"))
		} else {
			out = append(out, contract(sql, "changes partitions, which may move or remove rows"))
		}
	}
	if s.PartitionOption != nil {
		out = append(out, contract(format(&sqlparser.AlterTable{Table: s.Table, PartitionOption: s.PartitionOption}), "repartitions the table"))
	}
	if len(out) == 0 {
		out = append(out, expand(format(s), "changes nothing"))
	}
	return out
}

func (t *tracker) alterOption(s *sqlparser.AlterTable, opt sqlparser.AlterOption, sql string) Change {
	switch o := opt.(type) {
	case *sqlparser.AddIndexDefinition:
		switch o.IndexDefinition.Info.Type {
		case sqlparser.IndexTypePrimary:
			return contract(sql, "adds a primary key: older code may write rows it refuses")
		case sqlparser.IndexTypeUnique:
			return contract(sql, "adds a unique index: older code may write rows it refuses")
		}
		return expand(sql, "adds an index")
	case *sqlparser.AddConstraintDefinition:
		if _, ok := o.ConstraintDefinition.Details.(*sqlparser.ForeignKeyDefinition); ok {
			return contract(sql, "adds a foreign key: older code may write rows it refuses")
		}
		return contract(sql, "adds a CHECK constraint: older code may write rows it refuses")
	case *sqlparser.DropColumn:
		t.dropColumn(s.Table, o.Name.Name.String())
		return contract(sql, "drops a column")
	case *sqlparser.DropKey:
		return contract(sql, dropKeyReason(o.Type))
	case *sqlparser.RenameColumn:
		if c := t.column(s.Table, o.OldName.Name.String()); c != nil {
			t.dropColumn(s.Table, o.OldName.Name.String())
			t.setColumn(s.Table, o.NewName.Name.String(), c)
		}
		return contract(sql, "renames a column: older code still uses the old name")
	case *sqlparser.RenameTableName:
		t.renameTable(s.Table, o.Table)
		return contract(sql, "renames the table: older code still uses the old name")
	case *sqlparser.RenameIndex:
		return contract(sql, "renames an index: older index hints name the old one")
	case *sqlparser.ModifyColumn:
		name := o.NewColDefinition.Name.String()
		c := t.modify(s.Table, name, name, o.NewColDefinition)
		return c.with(sql)
	case *sqlparser.ChangeColumn:
		oldName, newName := o.OldColumn.Name.String(), o.NewColDefinition.Name.String()
		c := t.modify(s.Table, oldName, newName, o.NewColDefinition)
		if !strings.EqualFold(oldName, newName) {
			return contract(sql, "renames a column: older code still uses the old name")
		}
		return c.with(sql)
	case *sqlparser.AlterColumn:
		switch {
		case o.DropDefault:
			return contract(sql, "drops the column's default: older INSERTs that leave the column out may fail")
		case o.Invisible != nil && *o.Invisible:
			return contract(sql, "makes the column invisible: older SELECT * no longer returns it")
		case o.Invisible != nil:
			return expand(sql, "makes the column visible")
		}
		return expand(sql, "sets the column's default")
	case *sqlparser.AlterCheck:
		if o.Enforced {
			return contract(sql, "enforces a CHECK constraint: older code may write rows it refuses")
		}
		return expand(sql, "stops enforcing a CHECK constraint")
	case *sqlparser.AlterIndex:
		if o.Invisible {
			return contract(sql, "hides an index from the optimizer, as dropping it would")
		}
		return expand(sql, "makes an index visible")
	case *sqlparser.AlterCharset:
		return contract(sql, "converts every text column to another character set")
	case *sqlparser.TablespaceOperation:
		return contract(sql, "discards or imports the tablespace")
	case sqlparser.TableOptions:
		return expand(sql, "changes table options, not columns or rules")
	case sqlparser.AlgorithmValue, *sqlparser.LockOption, *sqlparser.Force, *sqlparser.Validation, *sqlparser.OrderByOption, *sqlparser.KeyState:
		return expand(sql, "changes how the table is stored or altered, not its columns or rules")
	}
	return contract(sql, "an ALTER TABLE clause the classifier does not know, so it counts as contract")
}

func dropKeyReason(k sqlparser.DropKeyType) string {
	switch k {
	case sqlparser.PrimaryKeyType:
		return "drops the primary key"
	case sqlparser.ForeignKeyType:
		return "drops a foreign key older code may rely on"
	case sqlparser.CheckKeyType:
		return "drops a CHECK constraint older code may rely on"
	case sqlparser.ConstraintType:
		return "drops a constraint older code may rely on"
	}
	return "drops an index older queries may need"
}

// judgement is a Kind and a reason without the SQL they are about.
type judgement struct {
	kind   Kind
	reason string
}

func (v judgement) with(sql string) Change { return Change{SQL: sql, Kind: v.kind, Reason: v.reason} }

// addColumn classifies ADD COLUMN: older INSERTs do not name the column, so
// it must accept being left out, and it must not add a rule on writes.
func addColumn(sql string, c *sqlparser.ColumnDefinition) Change {
	o := c.Type.Options
	if o == nil {
		return expand(sql, "adds a nullable column")
	}
	switch {
	case o.KeyOpt == sqlparser.ColKeyPrimary:
		return contract(sql, "adds a primary key column: older code may write rows it refuses")
	case o.KeyOpt == sqlparser.ColKeyUnique || o.KeyOpt == sqlparser.ColKeyUniqueKey:
		return contract(sql, "adds a unique column: older code may write rows it refuses")
	case o.Reference != nil:
		return contract(sql, "adds a column with a foreign key: older code may write rows it refuses")
	case o.As != nil:
		return expand(sql, "adds a generated column")
	case !nullable(c) && o.Default == nil && !o.Autoincrement:
		return contract(sql, "adds a NOT NULL column without a DEFAULT: older INSERTs, which leave it out, fail")
	case !nullable(c):
		return expand(sql, "adds a NOT NULL column with a default")
	}
	return expand(sql, "adds a nullable column")
}

// nullable is MySQL's rule: a column is nullable unless it says NOT NULL
// or is (part of) an inline PRIMARY KEY.
func nullable(c *sqlparser.ColumnDefinition) bool {
	o := c.Type.Options
	if o == nil {
		return true
	}
	if o.KeyOpt == sqlparser.ColKeyPrimary {
		return false
	}
	return o.Null == nil || *o.Null
}

// modify judges MODIFY/CHANGE COLUMN against the column's previous
// definition, and records the new one.
func (t *tracker) modify(table sqlparser.TableName, oldName, newName string, def *sqlparser.ColumnDefinition) judgement {
	prev := t.column(table, oldName)
	added := prev != nil && prev.added
	t.dropColumn(table, oldName)
	t.setColumn(table, newName, &column{def: def, added: added})
	if prev == nil {
		return judgement{Contract, fmt.Sprintf("changes column %s, which the earlier migrations do not define, so it cannot be shown to widen it", oldName)}
	}
	return compareColumn(prev.def, def)
}

func compareColumn(old, nw *sqlparser.ColumnDefinition) judgement {
	if o := nw.Type.Options; o != nil {
		switch {
		case isKey(o.KeyOpt) && (old.Type.Options == nil || o.KeyOpt != old.Type.Options.KeyOpt):
			return judgement{Contract, "adds a primary or unique key to the column: older code may write rows it refuses"}
		case o.Reference != nil:
			return judgement{Contract, "adds a foreign key to the column: older code may write rows it refuses"}
		}
	}
	oldNull, newNull := nullable(old), nullable(nw)
	switch {
	case oldNull && !newNull:
		return judgement{Contract, "makes the column NOT NULL: older code may write NULL to it"}
	case !oldNull && newNull:
		return judgement{Contract, "makes the column nullable: older code may not read NULL"}
	}
	if !newNull && hasDefault(old) && !hasDefault(nw) {
		return judgement{Contract, "drops the column's default: older INSERTs that leave the column out may fail"}
	}
	from, to := typeString(old.Type), typeString(nw.Type)
	if from == to {
		return judgement{Expand, "keeps the column's type and nullability"}
	}
	if widens(old.Type, nw.Type) {
		return judgement{Expand, fmt.Sprintf("widens the column from %s to %s", from, to)}
	}
	return judgement{Contract, fmt.Sprintf("changes the column from %s to %s, which is not a widening older code is sure to handle", from, to)}
}

func isKey(k sqlparser.ColumnKeyOption) bool {
	return k == sqlparser.ColKeyPrimary || k == sqlparser.ColKeyUnique || k == sqlparser.ColKeyUniqueKey
}

func hasDefault(c *sqlparser.ColumnDefinition) bool {
	o := c.Type.Options
	return o != nil && (o.Default != nil || o.Autoincrement || o.As != nil)
}

// typeString renders a column's type without its options (NULL, DEFAULT,
// COMMENT…), the part a widening is judged on, with its collation.
func typeString(ct *sqlparser.ColumnType) string {
	bare := *ct
	bare.Options = nil
	s := format(&bare)
	if ct.Options != nil && ct.Options.Collate != "" {
		s += " COLLATE " + ct.Options.Collate
	}
	return s
}

var (
	intRank  = map[string]int{"tinyint": 1, "smallint": 2, "mediumint": 3, "int": 4, "integer": 4, "bigint": 5}
	textRank = map[string]int{"tinytext": 1, "text": 2, "mediumtext": 3, "longtext": 4}
	blobRank = map[string]int{"tinyblob": 1, "blob": 2, "mediumblob": 3, "longblob": 4}
)

// widens reports whether every value of type a is a value of type b, with
// the same meaning. Only the common cases are known; anything else is not
// a widening, which makes the change contract.
func widens(a, b *sqlparser.ColumnType) bool {
	ta, tb := strings.ToLower(a.Type), strings.ToLower(b.Type)
	collate := func(ct *sqlparser.ColumnType) string {
		if ct.Options == nil {
			return ""
		}
		return strings.ToLower(ct.Options.Collate)
	}
	if !strings.EqualFold(a.Charset.Name, b.Charset.Name) || a.Charset.Binary != b.Charset.Binary || collate(a) != collate(b) || a.Zerofill != b.Zerofill {
		return false
	}
	switch {
	case intRank[ta] > 0 && intRank[tb] > 0:
		// INT display widths do not limit values: compare ranges only.
		if a.Unsigned == b.Unsigned {
			return intRank[tb] >= intRank[ta]
		}
		return a.Unsigned && !b.Unsigned && intRank[tb] > intRank[ta]
	case textRank[ta] > 0 && textRank[tb] > 0:
		return textRank[tb] >= textRank[ta]
	case blobRank[ta] > 0 && blobRank[tb] > 0:
		return blobRank[tb] >= blobRank[ta]
	case ta != tb:
		return ta == "float" && tb == "double" && a.Unsigned == b.Unsigned
	}
	switch ta {
	case "varchar", "varbinary", "char", "binary", "datetime", "timestamp", "time":
		return deref(b.Length, 0) >= deref(a.Length, 0) && a.Unsigned == b.Unsigned
	case "decimal", "numeric":
		// DECIMAL without a precision is DECIMAL(10,0): keep the integer
		// digits (precision - scale) and the scale, or grow them.
		pa, sa := deref(a.Length, 10), deref(a.Scale, 0)
		pb, sb := deref(b.Length, 10), deref(b.Scale, 0)
		return pb-sb >= pa-sa && sb >= sa && a.Unsigned == b.Unsigned
	case "enum", "set":
		// Appending values keeps every stored value and its index.
		return len(b.EnumValues) >= len(a.EnumValues) && slices.Equal(a.EnumValues, b.EnumValues[:len(a.EnumValues)])
	}
	return false
}

func deref(p *int, def int) int {
	if p == nil {
		return def
	}
	return *p
}

func classifyInsert(s *sqlparser.Insert) Change {
	verb := "INSERT INTO "
	if s.Action == sqlparser.ReplaceAct {
		verb = "REPLACE INTO "
	}
	sql := verb + s.Table.TableNameString()
	switch {
	case s.Action == sqlparser.ReplaceAct:
		return contract(sql, "REPLACE deletes and rewrites existing rows")
	case len(s.OnDup) > 0:
		return contract(sql+" … ON DUPLICATE KEY UPDATE", "rewrites existing rows")
	}
	return expand(sql, "inserts rows")
}

// classifyUpdate lets an UPDATE through only as a backfill: every column it
// sets was created by an ADD COLUMN of an earlier migration.
func (t *tracker) classifyUpdate(s *sqlparser.Update) Change {
	var cols []string
	for _, e := range s.Exprs {
		cols = append(cols, e.Name.Name.String())
	}
	var table sqlparser.TableName
	single := false
	if len(s.TableExprs) == 1 {
		if a, ok := s.TableExprs[0].(*sqlparser.AliasedTableExpr); ok {
			if tn, err := a.TableName(); err == nil {
				table, single = tn, true
			}
		}
	}
	if !single {
		return contract(short(format(s)), "an UPDATE of several tables, whose rewritten columns cannot be told apart")
	}
	sql := "UPDATE " + format(table) + " SET " + strings.Join(cols, ", ")
	for _, name := range cols {
		c := t.column(table, name)
		switch {
		case c == nil:
			return contract(sql, fmt.Sprintf("rewrites column %s, which the earlier migrations do not define", name))
		case !c.added:
			return contract(sql, fmt.Sprintf("rewrites column %s, which older code already reads", name))
		}
	}
	return expand(sql, "backfills column"+plural(len(cols), " ", "s ")+strings.Join(cols, ", ")+", added by an earlier migration")
}

// format renders a node with upper-case keywords and identifiers as written.
func format(n sqlparser.SQLNode) string {
	buf := sqlparser.NewTrackedBuffer(nil)
	buf.SetUpperCase(true)
	buf.SetEscapeNoIdentifier()
	n.Format(buf)
	return buf.String()
}

// oneLine puts SQL that could not be parsed on one line, comments and all,
// short enough for a terminal; text that is all white space to Go (but not
// to the parser, such as a vertical tab) is shown quoted.
func oneLine(sql string) string {
	if s := strings.Join(strings.Fields(sql), " "); s != "" {
		return short(s)
	}
	return short(strconv.Quote(sql))
}

func short(s string) string {
	const limit = 160
	if r := []rune(s); len(r) > limit {
		return string(r[:limit]) + "…"
	}
	return s
}
