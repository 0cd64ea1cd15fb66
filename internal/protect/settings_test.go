package protect

import (
	"errors"
	"strings"
	"testing"
)

func TestCommittedSettingsCarryTheSeedsRules(t *testing.T) {
	t.Parallel()
	s := committedSettings(t)
	if len(s.Branches) != 1 || s.Branches[0].Name != "main" {
		t.Fatalf("branches = %+v, want main", s.Branches)
	}
	b := s.Branches[0]
	r := b.RequiredPullRequestReviews
	switch {
	case r == nil || r.RequiredApprovingReviewCount != 1 || !r.RequireCodeOwnerReviews:
		t.Error("main must need one CODEOWNERS approval")
	case b.RequiredStatusChecks == nil || list(b.RequiredStatusChecks.Contexts) != "[ci / lint, ci / openapi, ci / security, ci / test]":
		t.Errorf("required checks = %+v, want lint, test, security, openapi", b.RequiredStatusChecks)
	case !b.RequiredLinearHistory || b.AllowForcePushes || b.AllowDeletions:
		t.Error("main must have linear history, no force push, no deletion")
	case s.Repository.DeleteBranchOnMerge == nil || !*s.Repository.DeleteBranchOnMerge:
		t.Error("branches must be deleted after merge")
	}
}

func TestBadSettingsAreRefusedWithTheReason(t *testing.T) {
	t.Parallel()
	const main = "branches:\n  - name: main\n"
	tests := []struct{ name, yaml, want string }{
		{"an unknown key", "branches:\n  - name: main\n    linear_history_required: true\n", "linear_history_required"},
		{"no branches", "repository: {}\n", "no branches"},
		{"a wildcard branch", "branches:\n  - name: 'release/*'\n", "not a branch name"},
		{"a duplicate branch", "branches:\n  - name: main\n  - name: main\n", "listed twice"},
		{"too many approvals", "branches:\n  - name: main\n    required_pull_request_reviews: {required_approving_review_count: 7}\n", "0 to 6"},
		{"an empty check", "branches:\n  - name: main\n    required_status_checks: {contexts: ['']}\n", "contexts[0] is empty"},
		{"not YAML", "branches: [", "yaml"},
		{"an environment without a name", main + "environments:\n  - wait_timer: 5\n", "environments[0]: name is empty"},
		{"an environment listed twice", main + "environments:\n  - name: production\n  - name: Production\n", "listed twice"},
		{"a misspelt environment key", main + "environments:\n  - name: production\n    preventSelfReview: true\n", "preventSelfReview"},
		{"a team named with its organization", main + "environments:\n  - name: production\n    reviewers: {teams: ['@smp/release-managers']}\n", "give the team's slug alone"},
		{"seven reviewers", main + "environments:\n  - name: production\n    reviewers: {users: [a, b, c, d, e, f, g]}\n", "up to 6"},
		{"self-review prevented without reviewers", main + "environments:\n  - name: production\n    prevent_self_review: true\n", "prevent_self_review needs reviewers"},
		{"a wait timer over 30 days", main + "environments:\n  - name: production\n    wait_timer: 43201\n", "0 to 43200 minutes"},
		{"protected branches and patterns at once", main + "environments:\n  - name: production\n    deployment_branch_policy: {protected_branches: true, tags: ['v*']}\n", "exclude each other"},
		{"a branch policy naming nothing", main + "environments:\n  - name: production\n    deployment_branch_policy: {}\n", "names no refs"},
		{"a pattern with a space", main + "environments:\n  - name: production\n    deployment_branch_policy: {tags: ['v* ']}\n", "not a name pattern"},
		{"a secret name with a dash", main + "environments:\n  - name: production\n    reviewers: {users: [carol]}\n    secrets: [GITOPS-TOKEN]\n", "not a secret name"},
		{"a reserved secret name", main + "environments:\n  - name: production\n    reviewers: {users: [carol]}\n    secrets: [GITHUB_TOKEN]\n", "reserves names starting with GITHUB_"},
		{"secrets any branch could read", main + "environments:\n  - name: dev\n    secrets: [GITOPS_TOKEN]\n", "a workflow on any branch could run a job in this environment"},
	}
	for _, tc := range tests {
		_, err := Parse("settings.yml", []byte(tc.yaml))
		if !errors.Is(err, ErrSettings) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want ErrSettings mentioning %q", tc.name, err, tc.want)
		}
	}
}

// TestCommittedSettingsGiveEachEnvironmentItsOwnToken: the environments
// the reusable CD's deploy jobs run in (dev, staging, production — not the
// GitOps environment's name, prod) each hold GITOPS_TOKEN; staging and
// production need a reviewer, production only runs for release tags, and
// dev only for protected branches.
func TestCommittedSettingsGiveEachEnvironmentItsOwnToken(t *testing.T) {
	t.Parallel()
	s := committedSettings(t)
	var names []string
	for _, e := range s.Environments {
		names = append(names, e.Name)
		if list(e.Secrets) != "[GITOPS_TOKEN]" {
			t.Errorf("%s: secrets %v, want GITOPS_TOKEN as an environment secret", e.Name, e.Secrets)
		}
		p := e.DeploymentBranchPolicy
		switch e.Name {
		case "dev":
			if p == nil || !p.ProtectedBranches {
				t.Error("dev must take only protected branches")
			}
		case "staging", "production":
			if e.Reviewers.count() == 0 {
				t.Errorf("%s must have required reviewers", e.Name)
			}
		}
		if e.Name == "production" && (!e.PreventSelfReview || !p.custom() || len(p.Branches) != 0 || list(p.Tags) != "[v*.*.*]") {
			t.Errorf("production must run only for release tags v*.*.*, without self-review: %+v %+v", e, p)
		}
	}
	if list(names) != "[dev, production, staging]" {
		t.Errorf("environments %v, want dev, staging and production (the CD's jobs' environments)", names)
	}
}

func TestParseRepo(t *testing.T) {
	t.Parallel()
	if o, n, err := ParseRepo("smp/order-svc"); err != nil || o != "smp" || n != "order-svc" {
		t.Fatalf("ParseRepo = %q %q %v", o, n, err)
	}
	for _, bad := range []string{"", "smp", "smp/", "/x", "smp/order-svc/x", "smp/..", "-smp/x", "smp/a b", "smp/x?y"} {
		if _, _, err := ParseRepo(bad); err == nil {
			t.Errorf("ParseRepo(%q) accepted it", bad)
		}
	}
}

func FuzzParseSettings(f *testing.F) {
	f.Add("branches:\n  - name: main\n    required_linear_history: true\n")
	f.Add("repository: {delete_branch_on_merge: true}\nbranches: [{name: main}]\n")
	f.Add("branches: [{name: main}]\nenvironments:\n  - name: production\n    reviewers: {users: [carol], teams: [release-managers]}\n    prevent_self_review: true\n    deployment_branch_policy: {tags: ['v*.*.*']}\n    secrets: [GITOPS_TOKEN]\n")
	f.Fuzz(func(t *testing.T, src string) {
		s, err := Parse("fuzz.yml", []byte(src))
		if err != nil {
			if !errors.Is(err, ErrSettings) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if s.Validate() != nil {
			t.Fatal("Parse returned settings that do not validate")
		}
	})
}
