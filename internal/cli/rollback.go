package cli

import (
	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/gitops/write"
)

func init() { register(newRollbackCmd) }

func newRollbackCmd(a *App) *cobra.Command {
	var (
		o                 writeOptions
		env, svc, to, why string
	)
	cmd := &cobra.Command{
		Use:   "rollback --gitops URL|PATH --env ENV --service SVC [--to TAG|DIGEST|REVISION]",
		Short: "Write the previous (or a given) image back and hold the service",
		Long: `rollback finds, in the git history of environments/ENV/SVC.yaml, the image
before the current one (or the one named by --to: a tag, a sha256 digest, or
a revision of the GitOps repository), writes it back with its chart version,
commits "rollback(ENV): SVC → TAG", and places a hold in the same commit:
automated deploys of SVC to ENV then exit 1 until
"smpctl hold release --env ENV --service SVC". Freezes do not block a
rollback.`,
		Example: `  smpctl rollback --gitops ../smp-gitops --env prod --service order-svc --by oncall --reason "5xx spike"
  smpctl rollback --gitops ../smp-gitops --env prod --service order-svc --to 3.2.0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			repo, err := o.open(a)
			if err != nil {
				return err
			}
			out, err := write.Rollback(cmd.Context(), repo, write.RollbackRequest{Common: o.common(a), Env: env, Service: svc, To: to, Reason: why})
			if err != nil {
				return err
			}
			return renderOutcome(a, out)
		},
	}
	addWriteFlags(cmd, &o, "who rolls back (Deployed-By and the hold's by)")
	f := cmd.Flags()
	f.StringVar(&env, "env", "", "environment")
	f.StringVar(&svc, "service", "", "service")
	f.StringVar(&to, "to", "", "tag, sha256 digest or GitOps revision to restore (default: the previous image)")
	f.StringVar(&why, "reason", "", "why, recorded in the hold")
	for _, n := range []string{"env", "service"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}
