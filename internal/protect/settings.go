// Package protect keeps a GitHub repository's settings, branch protection
// and deployment environments equal to a committed file
// (.github/settings.yml): Check reads them through the GitHub REST API and
// lists every difference; Apply makes GitHub match the file. The seed's
// rules (§14): pull requests with one CODEOWNERS approval, required checks
// lint/test/security/openapi, linear history, no force push, branches
// deleted after merge, signed commits as an option. The environments the
// reusable CD's deploy jobs run in (dev, staging, production) hold each its
// own GITOPS_TOKEN: Check says when one is missing, when an environment
// lacks its reviewers or branch policy, and when the token is also a
// repository or organization secret, which every job — a branch's too —
// can read. Secret values are never read or written: Apply leaves those
// differences to a person and says how to fix each.
//
// The client talks to api.github.com (or GitHub Enterprise's API URL) with
// a token it is given — never read from a flag, never printed.
package protect

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/fault"
)

// ErrSettings is wrapped when the settings file is missing or invalid.
var ErrSettings = fault.Invalidf("invalid settings file")

// Settings is the committed file.
type Settings struct {
	Repository Repository `yaml:"repository" json:"repository"`
	Branches   []Branch   `yaml:"branches" json:"branches"`
	// Environments are the GitHub deployment environments to keep; an
	// environment GitHub has that is not listed is left alone.
	Environments []Environment `yaml:"environments" json:"environments,omitempty"`
}

// Repository holds the repository-wide merge settings.
type Repository struct {
	DeleteBranchOnMerge *bool `yaml:"delete_branch_on_merge" json:"delete_branch_on_merge,omitempty"`
	AllowMergeCommit    *bool `yaml:"allow_merge_commit" json:"allow_merge_commit,omitempty"`
	AllowSquashMerge    *bool `yaml:"allow_squash_merge" json:"allow_squash_merge,omitempty"`
	AllowRebaseMerge    *bool `yaml:"allow_rebase_merge" json:"allow_rebase_merge,omitempty"`
}

// Branch is the protection of one branch.
type Branch struct {
	Name                       string              `yaml:"name" json:"name"`
	RequiredStatusChecks       *StatusChecks       `yaml:"required_status_checks" json:"required_status_checks"`
	RequiredPullRequestReviews *PullRequestReviews `yaml:"required_pull_request_reviews" json:"required_pull_request_reviews"`
	RequiredLinearHistory      bool                `yaml:"required_linear_history" json:"required_linear_history"`
	AllowForcePushes           bool                `yaml:"allow_force_pushes" json:"allow_force_pushes"`
	AllowDeletions             bool                `yaml:"allow_deletions" json:"allow_deletions"`
	EnforceAdmins              bool                `yaml:"enforce_admins" json:"enforce_admins"`
	RequiredSignatures         bool                `yaml:"required_signatures" json:"required_signatures"`
}

// StatusChecks are the checks a pull request must pass.
type StatusChecks struct {
	Strict   bool     `yaml:"strict" json:"strict"`
	Contexts []string `yaml:"contexts" json:"contexts"`
}

// PullRequestReviews are the review rules.
type PullRequestReviews struct {
	RequiredApprovingReviewCount int  `yaml:"required_approving_review_count" json:"required_approving_review_count"`
	RequireCodeOwnerReviews      bool `yaml:"require_code_owner_reviews" json:"require_code_owner_reviews"`
	DismissStaleReviews          bool `yaml:"dismiss_stale_reviews" json:"dismiss_stale_reviews"`
	// Bypass may push without a pull request. smp-gitops needs it: the
	// pipeline's bot (a GitHub App) commits deploys, promotions and
	// rollbacks straight to main, while people change delivery.yaml,
	// approvals and prod through reviewed pull requests (CODEOWNERS). The
	// API reports these as objects, so GitHub's answer is read apart
	// (github.go); the settings name them.
	Bypass *Bypass `yaml:"bypass_pull_request_allowances" json:"-"`
}

// Bypass lists who may push without a pull request: user logins, team
// slugs and GitHub App slugs.
type Bypass struct {
	Users []string `yaml:"users" json:"users"`
	Teams []string `yaml:"teams" json:"teams"`
	Apps  []string `yaml:"apps" json:"apps"`
}

// empty reports whether b lets no one bypass.
func (b *Bypass) empty() bool {
	return b == nil || len(b.Users)+len(b.Teams)+len(b.Apps) == 0
}

// Environment is a GitHub deployment environment: who must approve a job
// that runs in it, from which refs, and which secrets only its jobs may
// read.
type Environment struct {
	// Name is the environment's name as jobs name it (environment: name).
	Name string `yaml:"name" json:"name"`
	// Reviewers must approve each job before it runs (any one of them);
	// none: jobs run without approval.
	Reviewers Reviewers `yaml:"reviewers" json:"reviewers"`
	// PreventSelfReview keeps the person who started the run from
	// approving it, even if they are a reviewer. Needs reviewers.
	PreventSelfReview bool `yaml:"prevent_self_review" json:"prevent_self_review"`
	// WaitTimer delays each job, in minutes (0 to 43200).
	WaitTimer int `yaml:"wait_timer" json:"wait_timer"`
	// DeploymentBranchPolicy says which refs may run jobs in the
	// environment; nil lets every branch and tag.
	DeploymentBranchPolicy *DeploymentBranchPolicy `yaml:"deployment_branch_policy" json:"deployment_branch_policy"`
	// Secrets must exist as secrets of this environment and must not
	// exist as repository or organization secrets: a job reads the
	// environment's value only once it passed the environment's rules,
	// while a repository secret reaches every job, a branch's too.
	Secrets []string `yaml:"secrets" json:"secrets,omitempty"`
}

// Reviewers are user logins and team slugs; the teams are the
// repository owner's (an organization).
type Reviewers struct {
	Users []string `yaml:"users" json:"users"`
	Teams []string `yaml:"teams" json:"teams"`
}

func (r Reviewers) count() int { return len(r.Users) + len(r.Teams) }

// DeploymentBranchPolicy is either ProtectedBranches (only branches with
// branch protection) or name patterns of branches and tags (GitHub's
// custom policies: * matches anything but /, so v*.*.* matches v1.2.3 and
// v1.2.3-rc.1 but not svc/v1.2.3).
type DeploymentBranchPolicy struct {
	ProtectedBranches bool     `yaml:"protected_branches" json:"protected_branches"`
	Branches          []string `yaml:"branches" json:"branches,omitempty"`
	Tags              []string `yaml:"tags" json:"tags,omitempty"`
}

func (p *DeploymentBranchPolicy) custom() bool {
	return p != nil && !p.ProtectedBranches && len(p.Branches)+len(p.Tags) > 0
}

// Limits of GitHub's environments API.
const (
	maxReviewers = 6
	maxWaitTimer = 43200 // minutes: 30 days
)

var (
	// environmentName is stricter than GitHub (no spaces, no slashes):
	// it is also a workflow's `environment:` and part of API paths.
	environmentName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$`)
	userLogin       = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	teamSlug        = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	secretName      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// refPattern: a GitHub name pattern of branches or tags, without
	// spaces or control characters.
	refPattern = regexp.MustCompile(`^[^\s\x00-\x1f\x7f]+$`)
)

// branchName is what git and GitHub accept for a protected branch name here
// (no wildcards: protection rules with patterns belong in rulesets).
var branchName = regexp.MustCompile(`^[A-Za-z0-9._/-]+$`)

// Load reads and validates a settings file. Unknown keys are errors: a
// misplaced or misspelt key must not silently leave a rule off.
func Load(path string) (*Settings, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSettings, err)
	}
	return Parse(path, b)
}

// Parse decodes and validates settings; path is used in messages.
func Parse(path string, b []byte) (*Settings, error) {
	var s Settings
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrSettings, path, err)
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%w %s: %w", ErrSettings, path, err)
	}
	return &s, nil
}

// Validate checks the rules a settings file must follow.
func (s *Settings) Validate() error {
	var errs []error
	if len(s.Branches) == 0 {
		errs = append(errs, errors.New("no branches: protect at least main"))
	}
	seen := map[string]bool{}
	for i, b := range s.Branches {
		where := fmt.Sprintf("branches[%d]", i)
		switch {
		case b.Name == "":
			errs = append(errs, fmt.Errorf("%s: name is empty", where))
			continue
		case !branchName.MatchString(b.Name) || strings.Contains(b.Name, ".."):
			errs = append(errs, fmt.Errorf("%s: %q is not a branch name (letters, digits, . _ / - only)", where, b.Name))
		case seen[b.Name]:
			errs = append(errs, fmt.Errorf("%s: branch %q is listed twice", where, b.Name))
		}
		seen[b.Name] = true
		if r := b.RequiredPullRequestReviews; r != nil && (r.RequiredApprovingReviewCount < 0 || r.RequiredApprovingReviewCount > 6) {
			errs = append(errs, fmt.Errorf("%s: required_approving_review_count %d: GitHub allows 0 to 6", where, r.RequiredApprovingReviewCount))
		}
		if c := b.RequiredStatusChecks; c != nil {
			for j, ctx := range c.Contexts {
				if strings.TrimSpace(ctx) == "" {
					errs = append(errs, fmt.Errorf("%s.required_status_checks.contexts[%d] is empty", where, j))
				}
			}
		}
	}
	envs := map[string]bool{}
	for i, e := range s.Environments {
		errs = append(errs, e.validate(fmt.Sprintf("environments[%d]", i), envs)...)
	}
	return errors.Join(errs...)
}

// validate checks one environment; seen holds the names before it (GitHub
// compares them without case).
func (e Environment) validate(where string, seen map[string]bool) []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf(where+": "+format, args...))
	}
	switch {
	case e.Name == "":
		bad("name is empty: name the environment the workflow's job runs in (environment: production)")
	case !environmentName.MatchString(e.Name):
		bad("%q is not an environment name (letters, digits, . _ - only)", e.Name)
	case seen[strings.ToLower(e.Name)]:
		bad("environment %q is listed twice (names are compared without case)", e.Name)
	}
	seen[strings.ToLower(e.Name)] = true
	if e.Name != "" {
		where += " (" + e.Name + ")"
	}
	users := map[string]bool{}
	for _, u := range e.Reviewers.Users {
		switch {
		case !userLogin.MatchString(u):
			bad("reviewers.users: %q is not a GitHub login", u)
		case users[strings.ToLower(u)]:
			bad("reviewers.users: %q is listed twice", u)
		}
		users[strings.ToLower(u)] = true
	}
	teams := map[string]bool{}
	for _, t := range e.Reviewers.Teams {
		switch {
		case strings.ContainsAny(t, "@/"):
			bad("reviewers.teams: %q: give the team's slug alone (release-managers, not @smp/release-managers): the team must be one of the repository owner's", t)
		case !teamSlug.MatchString(t):
			bad("reviewers.teams: %q is not a team slug (lower-case letters, digits, - and _)", t)
		case teams[t]:
			bad("reviewers.teams: %q is listed twice", t)
		}
		teams[t] = true
	}
	if n := e.Reviewers.count(); n > maxReviewers {
		bad("%d reviewers: GitHub allows up to %d users and teams together; name a team instead of its members", n, maxReviewers)
	}
	if e.PreventSelfReview && e.Reviewers.count() == 0 {
		bad("prevent_self_review needs reviewers: list reviewers.users or reviewers.teams, or drop prevent_self_review")
	}
	if e.WaitTimer < 0 || e.WaitTimer > maxWaitTimer {
		bad("wait_timer %d: GitHub allows 0 to %d minutes (30 days)", e.WaitTimer, maxWaitTimer)
	}
	if p := e.DeploymentBranchPolicy; p != nil {
		switch {
		case p.ProtectedBranches && len(p.Branches)+len(p.Tags) > 0:
			bad("deployment_branch_policy: protected_branches: true and branch or tag patterns exclude each other: keep one")
		case !p.ProtectedBranches && len(p.Branches)+len(p.Tags) == 0:
			bad("deployment_branch_policy names no refs: set protected_branches: true, or list branches or tags (e.g. tags: [\"v*.*.*\"]); leave deployment_branch_policy out to let every branch deploy")
		}
		for _, k := range []struct {
			kind     string
			patterns []string
		}{{"branches", p.Branches}, {"tags", p.Tags}} {
			kind, seen := k.kind, map[string]bool{}
			for j, pat := range k.patterns {
				switch {
				case !refPattern.MatchString(pat):
					bad("deployment_branch_policy.%s[%d]: %q is not a name pattern (no spaces or control characters)", kind, j, pat)
				case seen[pat]:
					bad("deployment_branch_policy.%s: %q is listed twice", kind, pat)
				}
				seen[pat] = true
			}
		}
	}
	secrets := map[string]bool{}
	for _, name := range e.Secrets {
		up := strings.ToUpper(name)
		switch {
		case !secretName.MatchString(name):
			bad("secrets: %q is not a secret name (letters, digits and _, not starting with a digit)", name)
		case strings.HasPrefix(up, "GITHUB_"):
			bad("secrets: %q: GitHub reserves names starting with GITHUB_", name)
		case secrets[up]:
			bad("secrets: %q is listed twice (names are compared without case)", name)
		}
		secrets[up] = true
	}
	if len(e.Secrets) > 0 && e.Reviewers.count() == 0 && e.DeploymentBranchPolicy == nil {
		bad("secrets %s with neither reviewers nor a deployment_branch_policy: a workflow on any branch could run a job in this environment and read them; add deployment_branch_policy: {protected_branches: true} (or reviewers)", list(e.Secrets))
	}
	return errs
}
