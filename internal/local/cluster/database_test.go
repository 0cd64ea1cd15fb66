package cluster

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/smp/delivery/internal/testkit/testctx"
	"os"
	"slices"
	"testing"
)

func TestDropAllDropsOnlyItsPrefix(t *testing.T) {
	t.Parallel()
	ctx := testctx.New(t)
	d := Database{Addr: "127.0.0.1:3306", Prefix: fmt.Sprintf("dx%d_", os.Getpid())}
	db, err := sql.Open("mysql", d.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// '_' is a LIKE wildcard: dx<pid>Xkeep matches dx<pid>_% unescaped.
	keep := fmt.Sprintf("dx%dXkeep", os.Getpid())
	mine := []string{d.Name("dev", "a"), d.Name("prod", "b")}
	for _, n := range append(slices.Clone(mine), keep) {
		if _, err := db.ExecContext(ctx, "CREATE DATABASE IF NOT EXISTS `"+n+"`"); err != nil {
			t.Fatalf("create %s (is MariaDB up? scripts/tools.sh services): %v", n, err)
		}
	}
	t.Cleanup(func() { _, _ = db.ExecContext(context.Background(), "DROP DATABASE IF EXISTS `"+keep+"`") })

	got, err := d.DropAll(ctx)
	slices.Sort(got)
	slices.Sort(mine)
	if err != nil || !slices.Equal(got, mine) {
		t.Errorf("DropAll = %v, %v; want %v", got, err, mine)
	}
	var left []string
	rows, err := db.QueryContext(ctx, "SELECT schema_name FROM information_schema.schemata WHERE schema_name IN (?, ?, ?)", mine[0], mine[1], keep)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		left = append(left, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(left, []string{keep}) {
		t.Errorf("databases left = %v, want only %s", left, keep)
	}

	if _, err := (Database{Addr: d.Addr}).DropAll(ctx); err == nil {
		t.Error("DropAll without a prefix did not refuse")
	}
}
