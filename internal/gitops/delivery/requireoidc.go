package delivery

import (
	"fmt"
	"path"
	"regexp"
	"strings"
)

// RequireOIDCVersion is the format version that added requireOIDC (issue
// #15). An older smpctl reads such a repository but must not write it: it
// would take a typed --run for a CI run.
const RequireOIDCVersion = 3

// OIDCBindingVersion is the format version that added what binds a proven
// run to the write it makes: a service's repository, an environment's
// githubEnvironment and trustedWorkflows. An smpctl of version 3 would let
// any repository's run, from any job and workflow, write a service in an
// environment with requireOIDC.
const OIDCBindingVersion = 4

// DefaultTrustedWorkflows is what trustedWorkflows is when delivery.yaml
// leaves it out: smp/delivery's reusable CD at a release tag. A job's
// job_workflow_ref names the reusable workflow the job ran in, at the ref
// the caller pinned (e.g. smp/delivery/.github/workflows/cd.yml@refs/tags/v0.2.0).
var DefaultTrustedWorkflows = []string{"smp/delivery/.github/workflows/cd.yml@refs/tags/v*"}

var (
	// githubEnvRE is a GitHub environment name: GitHub allows up to 255
	// characters and refuses only a few; smpctl keeps to what a claim can
	// carry without quoting.
	githubEnvRE = regexp.MustCompile(`^[A-Za-z0-9._ -]{1,255}$`)
	// workflowRE is OWNER/REPO/PATH@REF, the shape of a job_workflow_ref.
	workflowRE = regexp.MustCompile(`^[^/@\s]+/[^/@\s]+/[^@\s]+@[^@\s]+$`)
)

// GitHubEnv is the GitHub Actions environment the CD's jobs that write e
// run in: githubEnvironment, else e's name.
func (e Environment) GitHubEnv() string {
	if e.GitHubEnvironment != "" {
		return e.GitHubEnvironment
	}
	return e.Name
}

// Workflows are the reusable workflows whose jobs may prove a run
// (trustedWorkflows, else DefaultTrustedWorkflows).
func (c *Config) Workflows() []string {
	if len(c.TrustedWorkflows) > 0 {
		return c.TrustedWorkflows
	}
	return DefaultTrustedWorkflows
}

// TrustsWorkflow reports whether jobWorkflowRef (a token's job_workflow_ref)
// matches one of Workflows: path.Match patterns, so * stays within one path
// element or ref segment.
func (c *Config) TrustsWorkflow(jobWorkflowRef string) bool {
	for _, p := range c.Workflows() {
		if ok, err := path.Match(p, jobWorkflowRef); err == nil && ok {
			return true
		}
	}
	return false
}

// validateRequireOIDC checks requireOIDC and the fields that bind a proven
// run (a service's repository, githubEnvironment, trustedWorkflows) against
// the format version and their shapes.
func (c *Config) validateRequireOIDC() []error {
	var errs []error
	newer := func(field string) error {
		return fmt.Errorf("%s: %s was added in format version %d, and this file says version: %d: write version: %d at the top of %s, so that an older smpctl reads the repository but does not write past it",
			field, field[strings.LastIndex(field, ".")+1:], OIDCBindingVersion, c.Version, OIDCBindingVersion, FileName)
	}
	for i, e := range c.Environments {
		if e.RequireOIDC && c.Version < RequireOIDCVersion {
			errs = append(errs, fmt.Errorf("environments[%d].requireOIDC: requireOIDC was added in format version %d, and this file says version: %d: write version: %d at the top of %s, so that an older smpctl reads the repository but does not write past it", i, RequireOIDCVersion, c.Version, RequireOIDCVersion, FileName))
		}
		if e.GitHubEnvironment == "" {
			continue
		}
		where := fmt.Sprintf("environments[%d].githubEnvironment", i)
		if c.Version < OIDCBindingVersion {
			errs = append(errs, newer(where))
		}
		if !githubEnvRE.MatchString(e.GitHubEnvironment) || strings.TrimSpace(e.GitHubEnvironment) != e.GitHubEnvironment {
			errs = append(errs, fmt.Errorf("%s: %q is not a GitHub environment name: give the name the CD's job runs in (`environment: name:` in the workflow), e.g. production", where, e.GitHubEnvironment))
		}
	}
	for i, s := range c.Services {
		if s.Repository == "" {
			continue
		}
		where := fmt.Sprintf("services[%d].repository", i)
		if c.Version < OIDCBindingVersion {
			errs = append(errs, newer(where))
		}
		if !repoRE.MatchString(s.Repository) || strings.HasSuffix(s.Repository, "/.") || strings.HasSuffix(s.Repository, "/..") {
			errs = append(errs, fmt.Errorf("%s: %q is not a GitHub repository: give OWNER/NAME, e.g. smp/%s", where, s.Repository, s.Name))
		}
	}
	if len(c.TrustedWorkflows) > 0 && c.Version < OIDCBindingVersion {
		errs = append(errs, newer("trustedWorkflows"))
	}
	for i, p := range c.TrustedWorkflows {
		_, err := path.Match(p, "")
		if err != nil || !workflowRE.MatchString(p) {
			errs = append(errs, fmt.Errorf("trustedWorkflows[%d]: %q is not OWNER/REPO/PATH@REF (a job_workflow_ref, * matching within one part): give e.g. %s", i, p, DefaultTrustedWorkflows[0]))
		}
	}
	return errs
}
