package cli

import (
	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/write"
)

func init() { register(newApproveCmd) }

func newApproveCmd(a *App) *cobra.Command {
	var (
		o                                      writeOptions
		env, svc, version, digest, requestedBy string
	)
	cmd := &cobra.Command{
		Use:   "approve --gitops URL|PATH --env ENV --service SVC --version V --by NAME",
		Short: "Record an approval of a version for an environment",
		Long: `approve writes state/approvals/ENV/SVC/V.yaml (version, digest, approvedBy, at,
requestedBy) and commits "approve(ENV): SVC V". The approver must be listed in
delivery.yaml: approvers (or releaseManagers) for approval gates,
releaseManagers for release-manager gates, and may not approve their own
request (--requested-by). The digest defaults to the digest V has in the
environment before ENV.

Where ENV has signedApprovals in delivery.yaml, the approval counts only when
its commit is signed by a key delivery.yaml's signers lists for --by: give
--signing-key (or set git's gpg.format=ssh and user.signingKey).`,
		Example: `  smpctl approve --gitops ../smp-gitops --env prod --service order-svc --version 3.3.0 --by minh --requested-by trung --signing-key ~/.ssh/id_ed25519`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if requestedBy != "" {
				if err := delivery.CheckPerson("--requested-by", requestedBy); err != nil {
					return err
				}
			}
			repo, err := o.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			out, err := write.Approve(cmd.Context(), repo, write.ApproveRequest{Common: o.common(a), Env: env, Service: svc, Version: version, Digest: digest, RequestedBy: requestedBy})
			if err != nil {
				return err
			}
			return renderOutcome(a, out)
		},
	}
	addWriteFlags(cmd, &o, "the approver (Approved-By)")
	// In CI the run acts for who asked for the deploy; the approver is
	// the environment's reviewer, whom the token does not name.
	o.actsForFlag, o.actsFor = "--requested-by", &requestedBy
	f := cmd.Flags()
	f.StringVar(&env, "env", "", "environment the approval is for")
	f.StringVar(&svc, "service", "", "service, as named in delivery.yaml")
	f.StringVar(&version, "version", "", "the image tag approved, e.g. 3.3.0")
	f.StringVar(&digest, "digest", "", "the digest approved, sha256:... (default: the version's digest in the previous environment)")
	f.StringVar(&requestedBy, "requested-by", "", "who asked for the deploy; may not be the approver for release-manager gates")
	for _, n := range []string{"env", "service", "version", "by"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}
