// Package migration tells whether an older image can run on the schema a newer
// image's migrations left behind, so that a rollback does not trade a bad
// release for a broken database.
//
// # The model: expand and contract
//
// A rollback in SMP Delivery changes the image, not the database: the
// migrations the newer image applied stay applied. The older image then runs
// on a schema it was never tested against. That is safe exactly when every
// migration in between only expands the schema — it adds things the older
// code does not know about and therefore does not touch — and unsafe as soon
// as one contracts it: removes, renames or narrows something the older code
// reads or writes, or adds a rule its writes may break. This is the same
// split order-svc's migrations already follow (0004 expand, 0005 backfill,
// 0006 contract, one release apart), written down as rules a machine checks.
//
// Each statement of each up migration is parsed with a real MySQL/MariaDB
// parser (vitess's sqlparser; a file is split into statements by the
// parser's own tokenizer, so a ';' inside a string or a comment does not cut
// a statement) and classified by the table below. A migration is contract
// when any of its statements is; a statement the parser cannot read counts
// as contract, because a rollback must never be allowed on a guess.
//
// # The rules
//
//	statement                                     kind      why
//	CREATE TABLE (also LIKE, AS SELECT)           expand    a new table is invisible to older code
//	CREATE INDEX / ADD INDEX / ADD KEY,           expand    only the plan changes, never a result
//	  FULLTEXT, SPATIAL
//	CREATE UNIQUE INDEX / ADD UNIQUE / ADD        contract  older code may write rows the new rule refuses
//	  PRIMARY KEY
//	ADD CONSTRAINT (CHECK, FOREIGN KEY)           contract  same: a new rule on writes
//	ADD COLUMN nullable, or NOT NULL with a       expand    older INSERTs, which do not name it, still work
//	  DEFAULT, AUTO_INCREMENT or generated (AS)
//	ADD COLUMN NOT NULL without a DEFAULT         contract  older INSERTs fail: "Field doesn't have a default value"
//	ADD COLUMN … UNIQUE / PRIMARY KEY / REFERENCES contract a new rule on writes
//	DROP TABLE / COLUMN / INDEX / KEY /           contract  older code may use it (an index: its queries'
//	  PRIMARY KEY / FOREIGN KEY / CHECK / CONSTRAINT          plans, or the invariant it enforced)
//	RENAME TABLE, ALTER TABLE … RENAME,           contract  the old name is gone
//	  RENAME COLUMN / INDEX, CHANGE with a new name
//	MODIFY / CHANGE COLUMN                        expand    only when it provably widens: the column's previous
//	                                                        definition (replayed from the earlier migrations)
//	                                                        has the same nullability and a type this one holds
//	                                                        every value of (INT → BIGINT, VARCHAR(64) →
//	                                                        VARCHAR(200), DECIMAL(10,2) → DECIMAL(12,2), TEXT →
//	                                                        MEDIUMTEXT, ENUM values appended)
//	                                              contract  otherwise: a narrower or other type, NULL ↔ NOT NULL
//	                                                        (NOT NULL: older code may write NULL; NULL: older
//	                                                        code may not read NULL), or a column the earlier
//	                                                        migrations do not define
//	ALTER COLUMN SET DEFAULT / VISIBLE            expand
//	ALTER COLUMN DROP DEFAULT / INVISIBLE         contract  older INSERTs relied on the default / SELECT * on it
//	ALTER INDEX VISIBLE, CHECK NOT ENFORCED       expand
//	ALTER INDEX INVISIBLE, CHECK ENFORCED         contract  as dropping the index / adding the rule
//	CONVERT TO CHARACTER SET                      contract  rewrites every text column
//	table options (ENGINE, COMMENT, DEFAULT       expand    no column or rule changes
//	  CHARSET), ALGORITHM, LOCK, FORCE, ORDER BY
//	partitions: ADD PARTITION                     expand
//	partitions: anything else, DISCARD TABLESPACE contract  may move or remove data
//	INSERT (incl. INSERT … SELECT, IGNORE)        expand    seeding rows older code can read: their columns
//	                                                        exist in its schema or it ignores them
//	INSERT … ON DUPLICATE KEY UPDATE, REPLACE     contract  rewrites existing rows
//	UPDATE that sets only columns an earlier      expand    a backfill of an expand column: the older release
//	  migration added with ADD COLUMN                       that introduced the column writes the same values
//	                                                        (that is what makes it a backfill), and releases
//	                                                        before it ignore the column
//	UPDATE of any other column                    contract  rewrites data older code already reads
//	DELETE, TRUNCATE                              contract  removes data older code may need
//	CREATE VIEW                                   expand
//	CREATE OR REPLACE VIEW, ALTER VIEW, DROP VIEW contract  changes what older code reads
//	CREATE PROCEDURE                              expand
//	DROP PROCEDURE                                contract
//	SET, SELECT, comments                         expand    no schema or data change
//	anything else, and anything unparseable       contract  never allow a rollback on a guess
//
// The UPDATE rule is the one judgement call: an UPDATE is data, not schema,
// and whether it is safe depends on what it writes. Filling a column that an
// expand step added is the middle phase of expand/contract and must not
// block a rollback to the expand release (order-svc's 0005); rewriting a
// column older code already used is as breaking as a type change. The
// classifier cannot check that a backfill writes what the expand release
// would have written — that is the migration author's contract, and
// order-svc's reversibility test is where it is held.
//
// Queries are assumed to name their columns (no INSERT without a column
// list, no SELECT * into positional structs); with those, added columns are
// invisible to older code.
//
// # Using it
//
// [Classify] reads a golang-migrate directory (NNNN_name.up.sql and
// NNNN_name.down.sql), [Between] decides a rollback from the applied schema
// version to an image's version and says why, and [Down] runs the down
// migrations that `smpctl rollback --migrate-down` needs.
package migration
