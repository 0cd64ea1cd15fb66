// Package cli holds smpctl's cobra commands. Each command lives in its own
// file, registers itself with register, parses and validates its flags, and
// calls a package that knows nothing of cobra.
//
// Exit codes are decided in one place, exitCode (exitcode.go), from the kind
// of the error a command returns (package fault): invalid input exits 2, a
// refusal or any other error 1. Packages describe their own inputs; the
// CLI names the flags (nameFlag).
package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/smp/delivery/internal/fault"
)

// App is what every command gets: the streams, the output format, the
// environment and the clock, injected so tests assert output exactly.
type App struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the process environment; tests replace it.
	Getenv func(string) string
	// Now is the clock; tests replace it.
	Now func() time.Time
	// Log writes structured diagnostics to Stderr (never to Stdout).
	Log *slog.Logger

	output  string
	verbose bool
}

// JSON reports whether the user asked for machine output (-o json).
func (a *App) JSON() bool { return a.output == "json" }

// Render writes v as indented JSON with -o json, else calls text.
func (a *App) Render(v any, text func(w io.Writer) error) error {
	if a.JSON() {
		enc := json.NewEncoder(a.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	// Buffered: a tabwriter flushes cell by cell, and a write per cell
	// to a terminal or pipe costs more than building the whole table.
	bw := bufio.NewWriter(a.Stdout)
	err := text(bw)
	if ferr := bw.Flush(); err == nil {
		err = ferr
	}
	return err
}

type commandFunc func(*App) *cobra.Command

var commands []commandFunc

// register adds a top-level command; each command file calls it from init.
func register(f commandFunc) { commands = append(commands, f) }

// Main runs smpctl with args and returns the process exit code.
func Main(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &App{Stdin: stdin, Stdout: stdout, Stderr: stderr, Getenv: os.Getenv, Now: time.Now}
	return a.Run(ctx, args)
}

// Run executes the command line and maps the outcome to an exit code.
func (a *App) Run(ctx context.Context, args []string) int {
	root := a.newRoot()
	root.SetArgs(args)
	root.SetIn(a.Stdin)
	root.SetOut(a.Stdout)
	root.SetErr(a.Stderr)
	cmd, err := root.ExecuteContextC(ctx)
	code := exitCode(ctx, cmd, err)
	if err == nil {
		return code
	}
	fmt.Fprintf(a.Stderr, "smpctl: %s\n", nameFlag(cmd, err))
	if code == exitInvalid && cmd != nil && !ran(cmd) {
		fmt.Fprintf(a.Stderr, "Run '%s --help' for usage.\n", cmd.CommandPath())
	}
	return code
}

const ranAnnotation = "smpctl.ran"

func ran(cmd *cobra.Command) bool {
	return cmd != nil && cmd.Annotations != nil && cmd.Annotations[ranAnnotation] == "true"
}

func (a *App) newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "smpctl",
		Short: "SMP Delivery: ship SMP's Go services from a branch to production through GitOps",
		Long: `smpctl does every step of SMP's delivery pipeline: plan a ref, build and push
images, write the GitOps repository, promote, approve, roll back, release,
check policy, clean the registry, smoke-test, verify with metrics, and show
what runs where.

Exit codes: 0 done (including "nothing to do"), 1 a check, gate or remote
refused, 2 bad input (nothing written). Every flag can also be set with an
SMP_<FLAG> environment variable, e.g. --gitops with SMP_GITOPS, except the
safety overrides (--override-freeze, --rollback, --purge, --apply,
--skip-changelog-check, --migrate-down), which are read only from the command line.`,
		SilenceUsage:      true,
		SilenceErrors:     true,
		DisableAutoGenTag: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := a.bindEnv(cmd); err != nil {
				return err
			}
			switch a.output {
			case "text", "json":
			default:
				return fault.Invalidf("invalid --output %q: use text or json", a.output)
			}
			level := slog.LevelWarn
			if a.verbose {
				level = slog.LevelDebug
			}
			a.Log = slog.New(slog.NewTextHandler(a.Stderr, &slog.HandlerOptions{Level: level}))
			return nil
		},
	}
	root.PersistentFlags().StringVarP(&a.output, "output", "o", "text", "output format: text or json")
	root.PersistentFlags().BoolVarP(&a.verbose, "verbose", "v", false, "log debug details to standard error")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return fault.Invalid(err) })
	for _, f := range commands {
		root.AddCommand(f(a))
	}
	markRun(root)
	a.Log = slog.New(slog.NewTextHandler(a.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return root
}

// markRun wraps every RunE so Run can tell our errors from cobra's.
func markRun(cmd *cobra.Command) {
	if cmd.RunE != nil {
		inner := cmd.RunE
		cmd.RunE = func(c *cobra.Command, args []string) error {
			if c.Annotations == nil {
				c.Annotations = map[string]string{}
			}
			c.Annotations[ranAnnotation] = "true"
			return inner(c, args)
		}
	}
	for _, c := range cmd.Commands() {
		markRun(c)
	}
}

// safetyOverrides are the flags that lift a gate or destroy state. They are
// never read from the environment: a variable left over in a CI job or a
// shell (SMP_OVERRIDE_FREEZE=...) would otherwise lift a freeze, turn a
// deploy into a rollback or drop databases on every later run, silently.
var safetyOverrides = map[string]bool{
	"override-freeze":      true,
	"rollback":             true,
	"purge":                true,
	"apply":                true,
	"skip-changelog-check": true,
	"migrate-down":         true,
}

// bindEnv sets every flag the user did not pass from SMP_<FLAG>, so CI can
// configure smpctl with environment variables (SMP_GITOPS, SMP_ENV, ...).
// A safety override set in the environment is not read, and the command
// says so once on standard error.
func (a *App) bindEnv(cmd *cobra.Command) error {
	var errs []error
	apply := func(f *pflag.Flag) {
		if f.Changed || f.Name == "help" {
			return
		}
		key := "SMP_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v := a.Getenv(key)
		if v == "" {
			return
		}
		if safetyOverrides[f.Name] {
			fmt.Fprintf(a.Stderr, "smpctl: warning: %s is set in the environment and ignored: --%s is a safety override and is read only from the command line\n", key, f.Name)
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("environment variable %s=%q for --%s: %w", key, v, f.Name, err))
			return
		}
		f.Changed = true
	}
	cmd.Flags().VisitAll(apply)
	cmd.InheritedFlags().VisitAll(apply)
	if len(errs) > 0 {
		return fault.Invalid(errors.Join(errs...))
	}
	// Required flags satisfied by the environment must not be reported missing.
	return nil
}
