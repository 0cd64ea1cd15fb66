// Command server is order-svc: `server` (or `server serve`) runs the HTTP
// API; `server migrate up | down N | version | force V` manages the MySQL
// schema with the migrations embedded in this binary. Configuration comes
// from the environment (see README.md). Exit codes: 0 done, 1 failed,
// 2 bad usage or configuration.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Set at build time: -ldflags "-X main.version=1.2.3 -X main.commit=abc123".
var (
	version = "dev"
	commit  = "unknown"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

const usage = `usage:
  server [serve]                 run the HTTP API
  server migrate up              apply every pending migration
  server migrate down N          revert the last N migrations
  server migrate version         print the applied schema version
  server migrate force V         mark version V as applied and clean (-1: none)
  server version                 print the build version and commit
`

// Exit codes.
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

// usageError is bad input or configuration: exit 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, getenv, stdout)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "server: %v\n", err)
	if ue := (usageError{}); errors.As(err, &ue) {
		return exitUsage
	}
	return exitFailed
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return serve(ctx, getenv, stdout)
	}
	switch args[0] {
	case "serve":
		if len(args) > 1 {
			return usagef("serve takes no arguments, got %q\n%s", args[1:], usage)
		}
		return serve(ctx, getenv, stdout)
	case "migrate":
		return migrateCmd(ctx, args[1:], getenv, stdout)
	case "version":
		_, err := fmt.Fprintf(stdout, "order-svc %s (commit %s)\n", version, commit)
		return err
	case "help", "-h", "--help":
		_, err := io.WriteString(stdout, usage)
		return err
	default:
		return usagef("unknown command %q\n%s", args[0], usage)
	}
}
