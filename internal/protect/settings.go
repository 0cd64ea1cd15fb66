// Package protect keeps a GitHub repository's settings and branch
// protection equal to a committed file (.github/settings.yml): Check reads
// both through the GitHub REST API and lists every difference; Apply makes
// GitHub match the file. The seed's rules (§14): pull requests with one
// CODEOWNERS approval, required checks lint/test/security/openapi, linear
// history, no force push, branches deleted after merge, signed commits as
// an option.
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
	return errors.Join(errs...)
}
