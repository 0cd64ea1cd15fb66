package write

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"regexp"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/statefile"
	"github.com/smp/delivery/internal/image/imageref"
)

// versionRE is an image tag we accept as a version: it becomes a file name.
// (at most 128 bytes, checked apart: a bounded repetition compiles to
// that many states at every start).
var versionRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// ApproveRequest records an approval of a version for an environment.
type ApproveRequest struct {
	Common
	Env, Service, Version string
	// Digest approved; default: the digest of Version in the environment
	// before Env.
	Digest string
	// RequestedBy is who asked (the deployer); a release manager may not
	// approve their own request.
	RequestedBy string
}

// Approve writes state/approvals/<env>/<svc>/<version>.yaml and commits
// `approve(<env>): <svc> <version>`. The approver must be listed in
// delivery.yaml (approvers, or releaseManagers for release-manager gates).
func Approve(ctx context.Context, repo *gitops.Repo, req ApproveRequest) (Outcome, error) {
	if err := checkNames(req.Env, req.Service); err != nil {
		return Outcome{}, err
	}
	if len(req.Version) > 128 || !versionRE.MatchString(req.Version) || req.Version == "latest" || req.Version == "main" {
		return Outcome{}, fault.Inputf("Version", "version %q: give the image tag being approved, e.g. 3.3.0 (lower case, no latest or main)", req.Version)
	}
	if req.By == "" {
		return Outcome{}, fault.Inputf("By", "no approver: name who approves")
	}
	if req.Digest != "" {
		if err := imageref.CheckDigest(req.Digest); err != nil {
			return Outcome{}, fault.Inputf("Digest", "digest: %w", err)
		}
	}
	out := Outcome{Action: "approve", Environment: req.Env, Service: req.Service}
	noop := fmt.Sprintf("%s %s is already approved for %s; nothing to commit", req.Service, req.Version, req.Env)
	return run(ctx, repo, out, noop, func(ctx context.Context, t *gitops.Tree) (gitops.Commit, error) {
		cfg, e, i, err := loadKnown(t, req.Env, req.Service)
		if err != nil {
			return gitops.Commit{}, err
		}
		if err := checkRunProven(cfg, e, req.Service, req.Common, "approval"); err != nil {
			return gitops.Commit{}, err
		}
		if e.Approval == delivery.ApprovalNone {
			return gitops.Commit{}, fault.Invalidf("%s needs no approval (approval: none in %s)", req.Env, delivery.FileName)
		}
		// The lists that make an approver, and the environment's gates,
		// must be trusted, for the approval already there as for a new one.
		if err := checkTrustChanges(ctx, t); err != nil {
			return gitops.Commit{}, err
		}
		digest := req.Digest
		if digest == "" {
			if i == 0 {
				return gitops.Commit{}, fault.Inputf("Digest", "no digest: %s is the first environment, so there is no earlier one to take %s's digest from; give the digest being approved", req.Env, req.Version)
			}
			prev := cfg.Environments[i-1].Name
			_, v, err := readEnvFile(t, prev, req.Service)
			if err != nil {
				return gitops.Commit{}, err
			}
			if v.Image.Tag != req.Version || v.Image.Digest == "" {
				return gitops.Commit{}, fault.Inputf("Digest", "%s runs %q in %s, not %s: give the digest (sha256:...) of %s to approve it", req.Service, v.Image.Tag, prev, req.Version, req.Version)
			}
			digest = v.Image.Digest
		}
		p := approvalPath(req.Env, req.Service, req.Version)
		if b, err := t.ReadFile(p); err == nil {
			// Where approvals must be signed, an unsigned one of the same
			// digest is not done: signing it again is the way to fix it.
			// Nor is an expired one: approving again is how it counts again.
			expired, _, err := approvalExpired(ctx, t, e, req.Service, req.Version, req.Now)
			if err != nil {
				return gitops.Commit{}, err
			}
			if a, err := statefile.DecodeApproval(b); err == nil && a.Digest == digest && !expired &&
				(!e.SignedApprovals || verified(verifyApproval(ctx, t, cfg, e, req.Service, req.Version, a.ApprovedBy, b))) {
				return gitops.Commit{}, gitops.ErrNoChange
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return gitops.Commit{}, err
		}
		// Checked after the approval already there: where approvals are
		// signed, a release manager signs with their own key on their
		// machine, and the CD's approve step (which holds no key) then
		// finds it and records nothing, instead of failing for want of one.
		if err := mayApprove(cfg, e, req.By); err != nil {
			return gitops.Commit{}, err
		}
		if err := checkApprovalSigner(repo, cfg, e, req.By); err != nil {
			return gitops.Commit{}, err
		}
		if e.Approval == delivery.ApprovalReleaseManager && req.RequestedBy == req.By {
			return gitops.Commit{}, fault.Refusedf("%s requested this deploy to %s and cannot approve it: another release manager must", req.By, req.Env)
		}
		a := Approval{Version: req.Version, Digest: digest, ApprovedBy: req.By, At: req.Now.UTC().Truncate(1e9), RequestedBy: req.RequestedBy}
		b, err := yaml.Marshal(a)
		if err != nil {
			return gitops.Commit{}, err
		}
		if err := t.WriteFile(p, b); err != nil {
			return gitops.Commit{}, err
		}
		return gitops.Commit{
			ChangeID: req.ChangeID,
			Subject:  fmt.Sprintf("approve(%s): %s %s", req.Env, req.Service, req.Version),
			Trailers: []gitops.Trailer{
				{Key: "Action", Value: "approve"},
				{Key: "Environment", Value: req.Env},
				{Key: "Service", Value: req.Service},
				{Key: "Image-Digest", Value: digest},
				{Key: "Deployed-By", Value: req.RequestedBy},
				{Key: "Approved-By", Value: req.By},
				{Key: "Pipeline-Run", Value: req.Run},
			},
			Identity: req.identity(cfg),
		}, nil
	})
}
