package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/history"
)

func init() { register(newDiffCmd) }

func newDiffCmd(a *App) *cobra.Command {
	var (
		rf       readFlags
		from, to string
		o        history.DiffOptions
	)
	cmd := &cobra.Command{
		Use:   "diff --gitops URL|PATH --from ENV --to ENV",
		Short: "Show the services whose image or chart differs between two environments",
		Long: `diff compares two environments of the GitOps repository service by service
(image digest, tag, chart version) and names the source commit each runs.
With --source-repo (a local clone of a service's repository) it also lists
the commits the --from environment runs that --to does not (git log to..from):
what a promotion would ship.`,
		Example: `  smpctl diff --gitops ../smp-gitops --from staging --to prod
  smpctl diff --gitops ../smp-gitops --from staging --to prod --service order-svc --source-repo ../order-svc`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" || to == "" {
				return fault.Invalidf("missing --from or --to: give two environments, e.g. --from staging --to prod")
			}
			r, err := rf.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			d, err := r.Diff(cmd.Context(), from, to, o)
			if err != nil {
				return err
			}
			return a.Render(d, func(w io.Writer) error { return writeDiff(w, d) })
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVar(&from, "from", "", "environment to compare from, e.g. staging")
	cmd.Flags().StringVar(&to, "to", "", "environment to compare to, e.g. prod")
	cmd.Flags().StringVar(&o.Service, "service", "", "compare only this service")
	cmd.Flags().StringVar(&o.SourceRepo, "source-repo", "", "local clone of the service's repository, to list the commits between the environments")
	return cmd
}

func writeDiff(w io.Writer, d *history.Diff) error {
	if len(d.Services) == 0 {
		_, err := fmt.Fprintf(w, "%s and %s run the same images and charts (%d services)\n", d.From, d.To, d.Same)
		return err
	}
	fmt.Fprintf(w, "%s → %s: %d differ, %d the same\n\n", d.From, d.To, len(d.Services), d.Same)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "SERVICE\tDIFFERS\t%s\t%s\tSOURCE %s\tSOURCE %s\n",
		strings.ToUpper(d.From), strings.ToUpper(d.To), strings.ToUpper(d.From), strings.ToUpper(d.To))
	for _, s := range d.Services {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Service, strings.Join(s.Differs, ","),
			sideText(s.From, s), sideText(s.To, s), shortSHA(s.From.SourceCommit), shortSHA(s.To.SourceCommit))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range d.Services {
		if len(s.Commits) == 0 && s.Note == "" {
			continue
		}
		fmt.Fprintf(w, "\n%s: commits in %s not in %s (%d)\n", s.Service, d.From, d.To, len(s.Commits))
		for _, c := range s.Commits {
			fmt.Fprintf(w, "  %s %s\n", shortSHA(c.Commit), c.Subject)
		}
		if s.Note != "" {
			fmt.Fprintf(w, "  (%s)\n", s.Note)
		}
	}
	return nil
}

func sideText(s history.Side, sd history.ServiceDiff) string {
	if !s.Present {
		return "(none)"
	}
	tag := s.Tag
	if tag == "" {
		tag = "(not deployed)"
	}
	if s.Digest != "" {
		tag += " " + history.ShortDigest(s.Digest)
	}
	if slices.Contains(sd.Differs, "chart") {
		tag += " chart " + orDash(s.ChartVersion)
	}
	return tag
}
