package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/write"
	"github.com/smp/delivery/internal/image/helmchart"
	"github.com/smp/delivery/internal/image/imageref"
)

func init() { register(newDeployCmd) }

func newDeployCmd(a *App) *cobra.Command {
	var (
		o                                   writeOptions
		env, svc, image, chart, chartRepo   string
		srcCommit, srcTime, srcRepo, reason string
		override, rollback, queue           bool
	)
	cmd := &cobra.Command{
		Use:   "deploy --gitops URL|PATH --env ENV --service SVC --image REPO:TAG@sha256:DIGEST",
		Short: "Write an image to an environment of the GitOps repository and push",
		Long: `deploy writes image.repository, image.tag and image.digest (and chart.version
with --chart-version, checked against --chart-repo when given) of
environments/ENV/SVC.yaml, keeping every other byte,
and commits "deploy(ENV): SVC → TAG" with trailers. A rejected push is retried
by re-applying the change to the new head. The same image already deployed
exits 0 ("already deployed") without a commit.

Refused (exit 1): during a freeze (unless --override-freeze --reason), while
the service is held (unless --rollback), without the environment's recorded
approval, and for a build older than the one running (--source-time, or
ancestry with --source-repo) unless --rollback; an image of another repository
than the service's; with --rollback, an image that never ran in ENV.

With --queue-if-soaking (how CD deploys on a trigger), a deploy that arrives
while the version ENV runs soaks for the next environment (soak: in
delivery.yaml) is queued in state/queue/ENV/SVC.yaml instead, superseding an
older queued one; smpctl soak drain deploys it when the soak ends
(docs/soak.md). A person's deploy, without the flag, is never queued.`,
		Example: `  smpctl deploy --gitops ../smp-gitops --env dev --service order-svc \
    --image ghcr.io/smp/order-svc:sha-1a2b3c4@sha256:... \
    --source-commit "$GITHUB_SHA" --source-time "$(git show -s --format=%cI)" --run "$RUN_URL"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ref, err := imageref.Parse(image)
			if err != nil {
				return err
			}
			src, err := source(srcCommit, srcTime, srcRepo)
			if err != nil {
				return err
			}
			why, err := overrideFreeze(override, reason)
			if err != nil {
				return err
			}
			req := write.DeployRequest{Common: o.common(a), Env: env, Service: svc, Image: ref, ChartVersion: chart, Source: src, OverrideFreeze: why, Rollback: rollback}
			if err := req.Validate(); err != nil {
				return err
			}
			if chartRepo != "" {
				if chart == "" {
					return fault.Invalidf("--chart-repo checks --chart-version: give both")
				}
				// Argo CD renders from the chart repository: pin only a version it can pull.
				ctx, cancel := context.WithTimeout(cmd.Context(), registryTimeout)
				_, err := helmchart.Resolve(ctx, chartRepo, svc, chart, a.access())
				cancel()
				if err != nil {
					return err
				}
			}
			repo, err := o.open(cmd.Context(), a)
			if err != nil {
				return err
			}
			req.Proven = o.proven // known once open has asked for the token
			deploy := write.Deploy
			if queue {
				deploy = write.QueueOrDeploy // CD on a trigger: docs/soak.md
			}
			out, err := deploy(cmd.Context(), repo, req)
			if err != nil {
				return err
			}
			if err := a.finishWrite(cmd.Context(), repo, &o, out, ""); err != nil {
				return err
			}
			if out.Action == "deploy" && !out.AlreadyDone && out.Commit != "" {
				a.drainBehind(cmd, repo, &o, out)
			}
			return nil
		},
	}
	addWriteFlags(cmd, &o, "who deploys (Deployed-By); required for environments gated by a release manager")
	f := cmd.Flags()
	f.StringVar(&env, "env", "", "environment, as named in delivery.yaml")
	f.StringVar(&svc, "service", "", "service, as named in delivery.yaml")
	f.StringVar(&image, "image", "", "image to deploy: REPO:TAG@sha256:DIGEST (lower case, digest required, never latest or main)")
	f.StringVar(&chart, "chart-version", "", "Helm chart version to pin with the image (chart.version; strict SemVer)")
	f.StringVar(&chartRepo, "chart-repo", "", "chart repository Argo CD reads (ghcr.io/smp/charts): refuse (exit 1) a --chart-version it does not hold")
	f.StringVar(&srcCommit, "source-commit", "", "the service commit the image was built from (40 hex)")
	f.StringVar(&srcTime, "source-time", "", "that commit's time, RFC 3339: lead time and the out-of-order guard")
	f.StringVar(&srcRepo, "source-repo", "", "a clone of the service repository: ancestry decides the out-of-order guard")
	f.BoolVar(&override, "override-freeze", false, "deploy during a freeze window (needs --reason)")
	f.StringVar(&reason, "reason", "", "why the freeze is overridden (recorded as Override-Freeze)")
	f.BoolVar(&rollback, "rollback", false, "an explicit rollback to this image, which must have run in the environment: ignores holds and the out-of-order guard, commits rollback(...) and places a hold (never read from SMP_ROLLBACK)")
	f.BoolVar(&queue, "queue-if-soaking", false, "an automated deploy: while the running version soaks for the next environment, queue this one (state/queue) instead of restarting its soak")
	for _, n := range []string{"env", "service", "image"} {
		_ = cmd.MarkFlagRequired(n)
	}
	return cmd
}
