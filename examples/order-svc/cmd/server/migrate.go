package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/smp/order-svc/internal/config"
	"github.com/smp/order-svc/migrations"
)

// migrateTimeout bounds a whole migrate command; golang-migrate stops after
// the statement in progress when it expires.
const migrateTimeout = 10 * time.Minute

func migrateCmd(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("migrate needs a subcommand: up, down N, version or force V\n%s", usage)
	}
	sub, rest := args[0], args[1:]
	var n int
	switch sub {
	case "up", "version":
		if len(rest) != 0 {
			return usagef("migrate %s takes no arguments, got %q", sub, rest)
		}
	case "down", "force":
		if len(rest) != 1 {
			return usagef("migrate %s needs exactly one number, e.g. `server migrate %s 1`", sub, sub)
		}
		v, err := strconv.Atoi(rest[0])
		if err != nil || (sub == "down" && v < 1) || (sub == "force" && v < -1) {
			return usagef("migrate %s: %q is not a valid number (down takes N ≥ 1, force takes a version ≥ -1)", sub, rest[0])
		}
		n = v
	default:
		return usagef("unknown migrate subcommand %q: use up, down N, version or force V", sub)
	}

	cfg, err := config.LoadDatabase(getenv)
	if err != nil {
		return usageError{err}
	}
	ctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	r, err := openRunner(cfg)
	if err != nil {
		return err
	}
	defer r.Close() //nolint:errcheck // best effort on exit

	switch sub {
	case "up":
		err = r.Up(ctx)
	case "down":
		err = r.Down(ctx, n)
	case "force":
		err = r.Force(n)
	}
	if err != nil && !errors.Is(err, migrations.ErrNoChange) {
		return err
	}
	return printVersion(r, stdout, sub, errors.Is(err, migrations.ErrNoChange))
}

func openRunner(cfg *mysql.Config) (*migrations.Runner, error) {
	db, err := sql.Open("mysql", config.MigrationDSN(cfg))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", cfg.DBName, err)
	}
	r, err := migrations.New(db)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("database %s at %s: %w", cfg.DBName, cfg.Addr, err)
	}
	return r, nil
}

func printVersion(r *migrations.Runner, w io.Writer, sub string, noChange bool) error {
	v, dirty, err := r.Version()
	state := ""
	switch {
	case errors.Is(err, migrations.ErrNoVersion):
		state = "no migration applied"
	case err != nil:
		return err
	case dirty:
		state = fmt.Sprintf("version %d (dirty: migration %d failed half-way; repair the schema by hand, then run `server migrate force V` with the version it now matches)", v, v)
	default:
		state = fmt.Sprintf("version %d", v)
	}
	latest, lerr := migrations.Latest()
	if lerr != nil {
		return lerr
	}
	prefix := "schema at"
	switch {
	case sub == "version":
	case noChange:
		prefix = "no change: schema at"
	default:
		prefix = "migrate " + sub + " done: schema at"
	}
	_, err = fmt.Fprintf(w, "%s %s (this binary's latest is %d)\n", prefix, state, latest)
	return err
}
