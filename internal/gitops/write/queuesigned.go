package write

import (
	"context"

	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/image/imageref"
)

// checkQueuedDeploy is what a direct deploy checks of who deploys and who
// approved, for a deploy that QueueOrDeploy queues behind a soak: a
// person's deploy (no Pipeline-Run) must be signed by a key delivery.yaml
// lists for them where the environment has signedApprovals
// (checkPersonSigner), and the approval it relies on must be signed by its
// approver, not by the deployer (checkSignedApproval, checkFourEyesByKey).
// Without it the queue would be a way around the signature a direct
// deploy needs: DrainQueue deploys the entry later as the queue's own
// write, which no person signs.
func checkQueuedDeploy(ctx context.Context, t *gitops.Tree, repo *gitops.Repo, cfg *delivery.Config, e delivery.Environment, req DeployRequest, img imageref.Ref) error {
	if req.Run == "" {
		if err := checkPersonSigner(repo, cfg, e, "deploy", req.By, false); err != nil {
			return err
		}
	}
	key, err := checkSignedApproval(ctx, t, cfg, e, req.Service, img.Tag)
	if err != nil {
		return err
	}
	return checkFourEyesByKey(repo, cfg, e, req.Service, img.Tag, req.By, key)
}
