package write

import (
	"fmt"
	"slices"
	"strings"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/delivery"
)

// ErrRunNotProven means a write records a CI run (Pipeline-Run) in an
// environment with requireOIDC without having proven it.
var ErrRunNotProven = fault.Refusedf("the CI run this write records is not proven")

// ErrRunNotBound means a write's run was proven, but it is not a run that
// may write there: another repository's, a job in another GitHub
// environment, or a workflow delivery.yaml does not trust.
var ErrRunNotBound = fault.Refusedf("the proven CI run may not make this write")

// ProvenRun is what a verified OIDC token says of the run that writes
// (smpctl --oidc): the claims requireOIDC binds to the write.
type ProvenRun struct {
	// Repository is the token's repository claim (OWNER/NAME).
	Repository string
	// Environment is its environment claim: the GitHub environment the
	// job ran in, empty for a job without one.
	Environment string
	// JobWorkflow is its job_workflow_ref: the (reusable) workflow the
	// job ran in, at its ref.
	JobWorkflow string
}

// checkRunProven is requireOIDC: in such an environment, a write that
// records a CI run — what lets a deploy or promote through without a
// person's signature — must have proven it with the run's OIDC token
// (Common.Proven, set by smpctl --oidc), and the run must be one that may
// write svc in e (checkRunBound). A write without --run is a person's, and
// the person's own gates apply.
func checkRunProven(cfg *delivery.Config, e delivery.Environment, svc string, c Common, action string) error {
	if !e.RequireOIDC || c.Run == "" {
		return nil
	}
	if c.Proven == nil {
		return fmt.Errorf("%w: %s requires CI writes to prove their run (requireOIDC in %s), and this %s gives --run %s without proof: run it from the CD with --oidc (the job needs permissions: id-token: write); as a person, drop --run and sign it",
			ErrRunNotProven, e.Name, delivery.FileName, action, c.Run)
	}
	return checkRunBound(cfg, e, svc, *c.Proven, action)
}

// checkRunBound: a token proves "a GitHub Actions run", which any
// repository's workflow can mint. What makes it the pipeline of svc in e is
// that the run is of svc's repository (services[].repository), its job ran
// in e's GitHub environment or a later one's (whose protection rules —
// reviewers, branch policy — GitHub enforced before minting; a later one
// because a prod job drains the queue behind prod's soak into staging), and
// the job's workflow is one delivery.yaml trusts (trustedWorkflows).
func checkRunBound(cfg *delivery.Config, e delivery.Environment, svc string, p ProvenRun, action string) error {
	s, _ := cfg.Service(svc)
	if s.Repository == "" {
		return fmt.Errorf("%w: %s requires CI writes to prove their run (requireOIDC in %s), and a proven run is a run of some repository: say which one deploys %s, with services[].repository: OWNER/NAME (format version %d); this %s's run is of %s",
			ErrRunNotBound, e.Name, delivery.FileName, svc, delivery.OIDCBindingVersion, action, p.Repository)
	}
	if !strings.EqualFold(p.Repository, s.Repository) {
		return fmt.Errorf("%w: this %s's run is of repository %s, and %s says %s is deployed by %s (services[].repository): only that repository's CD may write it in %s",
			ErrRunNotBound, action, p.Repository, delivery.FileName, svc, s.Repository, e.Name)
	}
	_, i, _ := cfg.Env(e.Name)
	allowed := make([]string, 0, len(cfg.Environments)-i)
	for _, later := range cfg.Environments[i:] {
		allowed = append(allowed, later.GitHubEnv())
	}
	if !slices.Contains(allowed, p.Environment) {
		got := p.Environment
		if got == "" {
			got = "no environment"
		}
		return fmt.Errorf("%w: this %s's run is a job in GitHub environment %q, and %s takes CI writes only from jobs in %q (githubEnvironment in %s, default the name; a later environment's job may write it too: %s): run the write in the job with `environment: %s`, or set githubEnvironment to the environment the CD's job runs in",
			ErrRunNotBound, action, got, e.Name, e.GitHubEnv(), delivery.FileName, strings.Join(allowed, ", "), e.GitHubEnv())
	}
	if !cfg.TrustsWorkflow(p.JobWorkflow) {
		return fmt.Errorf("%w: this %s's job ran in workflow %s, which %s does not trust (trustedWorkflows: %s): call smp/delivery's reusable CD at a release tag, or add the workflow to trustedWorkflows with a release manager's signed commit",
			ErrRunNotBound, action, p.JobWorkflow, delivery.FileName, strings.Join(cfg.Workflows(), ", "))
	}
	return nil
}
