package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/exit"
	"github.com/smp/delivery/internal/history"
)

func init() { register(newStatusCmd) }

func newStatusCmd(a *App) *cobra.Command {
	var rf readFlags
	cmd := &cobra.Command{
		Use:   "status --gitops URL|PATH",
		Short: "Show what runs where: every service in every environment, from the GitOps repository",
		Long: `status prints the service × environment matrix of the GitOps repository's
HEAD: the image tag and digest of each environment file, when and by whom it
was deployed (the deploy, promote or rollback commit's trailers), the source
commit it was built from, and whether automated deploys are held.

A tag marked * was edited outside smpctl: the file's digest is not the one
the last smpctl commit wrote; DEPLOYED then names the last commit that
touched the file. Exit 1 when an environment file is not valid YAML.`,
		Example: `  smpctl status --gitops ../smp-gitops
  smpctl status --gitops https://github.com/smp/smp-gitops.git -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r, err := rf.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			st, err := r.Status(cmd.Context())
			if err != nil {
				return readError(err)
			}
			if err := a.Render(st, func(w io.Writer) error { return writeStatus(w, st) }); err != nil {
				return err
			}
			return statusErrors(st)
		},
	}
	rf.add(cmd)
	return cmd
}

func writeStatus(w io.Writer, st *history.Status) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tENV\tTAG\tDIGEST\tCHART\tDEPLOYED\tBY\tSOURCE\tHELD")
	drift := false
	for _, row := range st.Services {
		for _, c := range row.Environments {
			tag := c.Tag
			switch {
			case !c.Present:
				tag = "(none)"
			case c.Error != "":
				tag = "(invalid YAML)"
			case tag == "":
				tag = "(not deployed)"
			}
			if c.Drift {
				tag += "*"
				drift = true
			}
			held := "-"
			if c.Held {
				held = "held"
				if c.Hold != nil && c.Hold.By != "" {
					held += " by " + c.Hold.By
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", row.Name, c.Environment, tag,
				orDash(history.ShortDigest(c.Digest)), orDash(c.ChartVersion), fmtTime(c.DeployedAt),
				orDash(c.DeployedBy), shortSHA(c.SourceCommit), held)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if drift {
		_, err := fmt.Fprintln(w, "* edited outside smpctl: the image is not the one the last smpctl commit wrote")
		return err
	}
	return nil
}

// statusErrors fails the command (after printing) when a file is broken:
// Argo CD cannot render it either.
func statusErrors(st *history.Status) error {
	for _, row := range st.Services {
		for _, c := range row.Environments {
			if c.Error != "" {
				return exit.Failedf("environments/%s/%s.yaml is not valid YAML (%s): fix it with a commit", c.Environment, c.Service, c.Error)
			}
		}
	}
	return nil
}
