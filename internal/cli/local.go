package cli

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/local/daemon"
)

func init() { register(newLocalCmd) }

func newLocalCmd(a *App) *cobra.Command {
	var dir, dbPrefix string
	var purge bool
	cmd := &cobra.Command{
		Use:   "local",
		Short: "Run the platform on this machine: registry, smp-gitops remote, Prometheus and the runtime",
		Long: `local up starts, in the background, everything the pipeline needs on one
machine under --dir: an OCI registry, a bare git repository as the smp-gitops
remote, a real Prometheus scraping what runs, and the embedded runtime that
plays Argo CD, Argo Rollouts and Kubernetes (dev syncs by itself, staging and
prod wait for 'smpctl sync ENV'). local status shows what runs where; local
down stops it all. Needs MariaDB and Redis on 127.0.0.1 (scripts/tools.sh
services) and Debian's prometheus.`,
	}
	cmd.PersistentFlags().StringVar(&dir, "dir", ".smp", "folder of the local environment's state")
	cmd.PersistentFlags().StringVar(&dbPrefix, "db-prefix", "smp_", "prefix of the environments' database names (<prefix><svc>_<env>) and Redis keys")
	cmd.PersistentFlags().BoolVar(&purge, "purge", false, "local down: also drop the environments' databases and remove --dir")
	cmd.AddCommand(
		&cobra.Command{
			Use: "up", Short: "Start the local environment (or show the one already running)", Args: cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error {
				exe, err := self()
				if err != nil {
					return err
				}
				if err := checkDBPrefix(dbPrefix); err != nil {
					return err
				}
				st, started, err := daemon.Up(c.Context(), dir, exe, []string{"local", "daemon", "--dir", dir, "--db-prefix", dbPrefix}, os.Environ())
				if err != nil {
					return err
				}
				return a.Render(st, func(w io.Writer) error {
					verb := "already running"
					if started {
						verb = "started"
					}
					_, err := fmt.Fprintf(w, "local environment %s in %s (pid %d)\n  control     %s\n  registry    %s\n  gitops      %s\n  prometheus  %s\n  dashboard   %s\n",
						verb, st.Dir, st.PID, st.Control, st.Registry, st.GitOps, st.Prometheus, st.Dashboard)
					return err
				})
			},
		},
		&cobra.Command{
			Use: "down", Short: "Stop the local environment and everything it runs", Args: cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error {
				st, err := daemon.Down(c.Context(), dir, purge)
				if errors.Is(err, daemon.ErrNotRunning) {
					return a.Render(map[string]string{"status": "not running"}, func(w io.Writer) error {
						_, err := fmt.Fprintln(w, "no local environment runs in", dir)
						return err
					})
				}
				if err != nil {
					return err
				}
				return a.Render(st, func(w io.Writer) error {
					_, err := fmt.Fprintf(w, "local environment in %s stopped (pid %d)\n", st.Dir, st.PID)
					return err
				})
			},
		},
		&cobra.Command{
			Use: "status", Short: "Show environments, versions, health and URLs of the local environment", Args: cobra.NoArgs,
			RunE: func(c *cobra.Command, _ []string) error {
				cl, _, err := daemon.Connect(dir)
				if err != nil {
					return err
				}
				r, err := cl.Status(c.Context())
				if err != nil {
					return err
				}
				return a.Render(r, r.WriteText)
			},
		},
		&cobra.Command{
			Use: "daemon", Hidden: true, Args: cobra.NoArgs,
			Short: "Run the local environment in the foreground (what local up starts)",
			RunE: func(c *cobra.Command, _ []string) error {
				ctx, stop := signal.NotifyContext(c.Context(), syscall.SIGTERM, os.Interrupt)
				defer stop()
				if err := checkDBPrefix(dbPrefix); err != nil {
					return err
				}
				return daemon.Serve(ctx, daemon.Options{Dir: dir, DBPrefix: dbPrefix, Logger: a.daemonLog()})
			},
		},
	)
	return cmd
}

// daemonLog is the logger of a long-running daemon: info and up, to
// standard error (its log file); debug with SMP_DEBUG=1.
func (a *App) daemonLog() *slog.Logger {
	level := slog.LevelInfo
	if a.Getenv("SMP_DEBUG") == "1" {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(a.Stderr, &slog.HandlerOptions{Level: level}))
}

// self is the smpctl being run, to re-execute as the daemon: argv[0] as
// invoked (a wrapper or symlink named smpctl stays in charge), else the
// executable's own path.
func self() (string, error) {
	if p, err := exec.LookPath(os.Args[0]); err == nil {
		if abs, err := filepath.Abs(p); err == nil {
			return abs, nil
		}
	}
	return os.Executable()
}

var dbPrefixRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)

func checkDBPrefix(p string) error {
	if !dbPrefixRE.MatchString(p) {
		return fault.Invalidf("--db-prefix %q: use lower-case letters, digits and '_', starting with a letter (at most 32)", p)
	}
	return nil
}
