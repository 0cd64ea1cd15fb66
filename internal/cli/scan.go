package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/image/vulnscan"
)

func init() { register(newScanCmd) }

func newScanCmd(a *App) *cobra.Command {
	var dir, db, version, cache, failOn, unknown string
	cmd := &cobra.Command{
		Use:   "scan [--dir DIR] [--severity high] [--db DIR | --vulndb-version V]",
		Short: "Scan a Go module with govulncheck against an offline database; fail on reachable vulnerabilities",
		Long: `scan runs govulncheck (source mode: only vulnerabilities whose vulnerable
function the code can reach fail) with a database built offline from the
golang.org/x/vulndb module, fetched through the Go module proxy and cached.
It always prints the database date.

Go's database carries no severities: an entry without one is judged at
--unknown-severity (default critical, so every reachable one fails). A scan
that could not run (no govulncheck, code that does not compile, no
database) fails with exit 1; it never passes silently.`,
		Example: `  smpctl scan --dir . --severity high
  smpctl scan --dir examples/order-svc --db ~/.cache/smp-delivery/vulndb/v0.0.0-20261105234957-e22db6528018`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fail, err := vulnscan.ParseSeverity(failOn)
			if err != nil {
				return err
			}
			unk, err := vulnscan.ParseSeverity(unknown)
			if err != nil {
				return err
			}
			var d *vulnscan.DB
			if db != "" {
				d, err = vulnscan.OpenDB(db)
			} else {
				d, err = vulnscan.FetchDB(cmd.Context(), "go", version, cache)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(a.Stderr, "scan: vulnerability database %s dated %s (%d entries)\n", d.Source, d.Date.Format(time.RFC3339), d.Entries)
			rep, err := vulnscan.Scan(cmd.Context(), vulnscan.Options{Dir: dir, DB: d, FailOn: fail, Unknown: unk})
			if err != nil {
				return err
			}
			if err := a.Render(rep, func(w io.Writer) error { return writeScan(w, rep) }); err != nil {
				return err
			}
			if rep.Failing > 0 {
				return fault.Refusedf("%d reachable vulnerabilit(ies) at or above %s", rep.Failing, rep.FailOn)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&dir, "dir", ".", "the Go module to scan (./... inside it)")
	f.StringVar(&failOn, "severity", "high", "fail on reachable vulnerabilities at or above: low, medium, high, critical")
	f.StringVar(&unknown, "unknown-severity", "critical", "severity given to entries that have none (all of Go's database)")
	f.StringVar(&db, "db", "", "a database directory built earlier by smpctl scan (default: build one from golang.org/x/vulndb)")
	f.StringVar(&version, "vulndb-version", vulnscan.DefaultVulnDB, "golang.org/x/vulndb module version to build the database from")
	f.StringVar(&cache, "db-cache", defaultVulnCache(), "where built databases are kept")
	return cmd
}

func defaultVulnCache() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "smp-delivery", "vulndb")
}

func writeScan(w io.Writer, rep *vulnscan.Report) error {
	fmt.Fprintf(w, "database: %s, dated %s\n", rep.DB.Source, rep.DB.Date.Format(time.RFC3339))
	fmt.Fprintf(w, "scanner:  %s (%s)\n", rep.Scanner, rep.GoVersion)
	for _, v := range rep.Vulns {
		state := "imported, not called"
		if v.Reachable {
			state = "REACHABLE via " + v.Symbol
			if v.Position != "" {
				state += " (" + v.Position + ")"
			}
		}
		verdict := "ok  "
		if v.Fails {
			verdict = "FAIL"
		}
		fixed := v.Fixed
		if fixed == "" {
			fixed = "no fix"
		}
		fmt.Fprintf(w, "%s %s %-8s %s@%s (fixed in %s): %s — %s\n", verdict, v.ID, v.Severity, v.Module, v.Version, fixed, v.Summary, state)
	}
	_, err := fmt.Fprintf(w, "scan: %d vulnerabilit(ies), %d reachable at or above %s, %d not reachable\n", len(rep.Vulns), rep.Failing, rep.FailOn, rep.Unreachable)
	return err
}
