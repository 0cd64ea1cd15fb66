package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/history"
	"github.com/smp/delivery/internal/untrusted"
)

func init() { register(newHistoryCmd) }

func newHistoryCmd(a *App) *cobra.Command {
	var (
		rf       readFlags
		env, svc string
		limit    int
	)
	cmd := &cobra.Command{
		Use:   "history --gitops URL|PATH --env ENV --service SVC",
		Short: "List the deploys, promotions, rollbacks, approvals and holds of one service in one environment",
		Long: `history lists, newest first, every commit of the GitOps repository that
touched the service's environment file, its hold or its approvals in the
environment: smpctl's commits with their trailers, and hand edits.`,
		Example: `  smpctl history --gitops ../smp-gitops --env prod --service order-svc
  smpctl history --gitops ../smp-gitops --env dev --service order-svc --limit 5 -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if env == "" || svc == "" {
				return fault.Invalidf("missing --env or --service: give both, e.g. --env prod --service order-svc")
			}
			r, err := rf.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			h, err := r.History(cmd.Context(), env, svc, limit)
			if err != nil {
				return err
			}
			return a.Render(h, func(w io.Writer) error { return writeHistory(w, h) })
		},
	}
	rf.add(cmd)
	cmd.Flags().StringVar(&env, "env", "", "environment, e.g. prod")
	cmd.Flags().StringVar(&svc, "service", "", "service, e.g. order-svc")
	cmd.Flags().IntVar(&limit, "limit", 0, "show only the newest N events (0: all)")
	return cmd
}

func writeHistory(w io.Writer, h *history.ServiceHistory) error {
	if len(h.Events) == 0 {
		_, err := fmt.Fprintf(w, "no commits touch %s in %s\n", h.Service, h.Environment)
		return err
	}
	// PROOF, where any commit is checked against signers or carries what
	// a CI run's OIDC token proved: what backs the BY column.
	proofs := false
	for _, e := range h.Events {
		proofs = proofs || e.Signature != nil || e.OIDC != nil
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	if proofs {
		fmt.Fprintln(tw, "WHEN\tACTION\tTAG\tDIGEST\tBY\tPROOF\tSOURCE\tSUBJECT")
	} else {
		fmt.Fprintln(tw, "WHEN\tACTION\tTAG\tDIGEST\tBY\tSOURCE\tSUBJECT")
	}
	for _, e := range h.Events {
		action := string(e.Action)
		if action == "" {
			action = "(by hand)"
		}
		tag := e.Tag
		if e.Action == history.ActionApprove {
			tag = e.Version
		}
		t := e.Time
		by := orDash(e.By())
		if proofs {
			by += "\t" + proof(e)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", fmtTime(&t), action, orDash(tag),
			orDash(history.ShortDigest(e.Digest)), by, shortSHA(e.SourceCommit), untrusted.Line(e.Subject))
	}
	return tw.Flush()
}

// proof is what backs an event's BY: the listed key that signed its commit,
// the CI run its OIDC token proved, or why neither.
func proof(e history.Event) string {
	switch {
	case e.Signature != nil && e.Signature.Signed:
		return "signed " + e.Signature.Key
	case e.OIDC != nil:
		return "OIDC run " + e.OIDC.Run
	case e.Signature != nil:
		return e.Signature.Problem
	}
	return "-"
}
