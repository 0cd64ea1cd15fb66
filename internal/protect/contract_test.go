package protect

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/protect/protecttest"
)

// The GitHub API is a boundary these tests cannot reach: they run against
// the RECORDED CONTRACT served by package protecttest.

const testToken = "ghp_TESTtokenNEVERprinted0123456789abcd"

func newRecordedGitHub(t *testing.T, scenario string) (string, *Client) {
	t.Helper()
	url := protecttest.Serve(t, scenario, testToken)
	return url, &Client{BaseURL: url, Token: testToken}
}

func committedSettings(t *testing.T) *Settings {
	t.Helper()
	s, err := Load(filepath.Join("..", "..", ".github", "settings.yml"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheckAgainstRecordedGitHub(t *testing.T) {
	t.Parallel()
	tests := []struct {
		scenario string
		want     []string // "where field github→want"
	}{
		{"check_matching", nil},
		{"check_unprotected", []string{
			"repository allow_merge_commit true→false",
			"repository delete_branch_on_merge false→true",
			"branch main allow_deletions →false",
			"branch main allow_force_pushes →false",
			"branch main enforce_admins →true",
			"branch main protected false→true",
			"branch main required_linear_history →true",
			"branch main required_pull_request_reviews.dismiss_stale_reviews →true",
			"branch main required_pull_request_reviews.require_code_owner_reviews →true",
			"branch main required_pull_request_reviews.required_approving_review_count →1",
			"branch main required_signatures →false",
			"branch main required_status_checks.contexts →[ci / lint, ci / openapi, ci / security, ci / test]",
			"branch main required_status_checks.strict →true",
			"environment dev deployment_branch_policy →protected branches",
			"environment dev exists false→true",
			"environment dev prevent_self_review →false",
			"environment dev reviewers.teams →[]",
			"environment dev reviewers.users →[]",
			"environment dev wait_timer →0",
			"environment staging deployment_branch_policy →branch and tag patterns",
			"environment staging deployment_branch_policy.branches →[]",
			"environment staging deployment_branch_policy.tags →[v*.*.*-rc.*]",
			"environment staging exists false→true",
			"environment staging prevent_self_review →false",
			"environment staging reviewers.teams →[]",
			"environment staging reviewers.users →[alice, bob]",
			"environment staging wait_timer →0",
			"environment production deployment_branch_policy →branch and tag patterns",
			"environment production deployment_branch_policy.branches →[]",
			"environment production deployment_branch_policy.tags →[v*.*.*]",
			"environment production exists false→true",
			"environment production prevent_self_review →true",
			"environment production reviewers.teams →[]",
			"environment production reviewers.users →[carol]",
			"environment production wait_timer →0",
			"environment dev secret GITOPS_TOKEN →an environment secret",
			"environment staging secret GITOPS_TOKEN →an environment secret",
			"environment production secret GITOPS_TOKEN →an environment secret",
			"repository secret GITOPS_TOKEN a repository secret→only environment secrets (dev, staging, production)",
		}},
		{"check_drifted", []string{
			"branch main allow_force_pushes true→false",
			"branch main required_linear_history false→true",
			"branch main required_pull_request_reviews.required_approving_review_count 0→1",
			"branch main required_status_checks.contexts [ci / lint, ci / test]→[ci / lint, ci / openapi, ci / security, ci / test]",
		}},
		{"check_environments_drifted", []string{
			"environment dev deployment_branch_policy all branches and tags→protected branches",
			"environment staging deployment_branch_policy.branches [main]→[]",
			"environment staging deployment_branch_policy.tags [v*]→[v*.*.*-rc.*]",
			"environment staging reviewers.users []→[alice, bob]",
			"environment staging wait_timer 30→0",
			"environment production deployment_branch_policy protected branches→branch and tag patterns",
			"environment production deployment_branch_policy.tags []→[v*.*.*]",
			"environment production prevent_self_review false→true",
			"environment production reviewers.users [carol, dave]→[carol]",
			"environment production secret GITOPS_TOKEN no such secret→an environment secret",
			"repository secret GITOPS_TOKEN a repository secret→only environment secrets (dev, staging, production)",
			"organization smp secret GITOPS_TOKEN an organization secret shared with smp/order-svc→only environment secrets (dev, staging, production)",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.scenario, func(t *testing.T) {
			t.Parallel()
			_, c := newRecordedGitHub(t, tc.scenario)
			diffs, err := Check(context.Background(), c, "smp", "order-svc", committedSettings(t))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, d := range diffs {
				got = append(got, d.Where+" "+d.Field+" "+d.GitHub+"→"+d.Want)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("differences:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestApplyAgainstRecordedGitHub(t *testing.T) {
	t.Parallel()
	t.Run("an unprotected repository is patched, protected, given its environments and verified; the secrets are left to a person", func(t *testing.T) {
		t.Parallel()
		_, c := newRecordedGitHub(t, "apply_unprotected")
		changed, left, err := Apply(context.Background(), c, "smp", "order-svc", committedSettings(t))
		if err != nil || len(changed) != 13+22 {
			t.Fatalf("Apply = %d changes, %v; want the 13 differences of the repository and main and the 22 of the environments fixed", len(changed), err)
		}
		var got []string
		for _, d := range left {
			got = append(got, d.String())
		}
		want := []string{
			"environment dev: secret GITOPS_TOKEN: GitHub has no such secret, settings want an environment secret; set it, a token for dev alone (smpctl never writes secret values): gh secret set GITOPS_TOKEN --env dev --repo smp/order-svc",
			"environment staging: secret GITOPS_TOKEN: GitHub has no such secret, settings want an environment secret; set it, a token for staging alone (smpctl never writes secret values): gh secret set GITOPS_TOKEN --env staging --repo smp/order-svc",
			"environment production: secret GITOPS_TOKEN: GitHub has no such secret, settings want an environment secret; set it, a token for production alone (smpctl never writes secret values): gh secret set GITOPS_TOKEN --env production --repo smp/order-svc",
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("left:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})
	t.Run("drifted environments converge: reviewers resolved, patterns replaced, and a second check is clean", func(t *testing.T) {
		t.Parallel()
		_, c := newRecordedGitHub(t, "apply_environments")
		s := committedSettings(t)
		s.Environments[2].Reviewers.Teams = []string{"release-managers"}
		changed, left, err := Apply(context.Background(), c, "smp", "order-svc", s)
		if err != nil || len(left) != 0 {
			t.Fatalf("Apply: left %v, %v", left, err)
		}
		var got []string
		for _, d := range changed {
			got = append(got, d.Where+" "+d.Field)
		}
		want := []string{
			"environment dev deployment_branch_policy",
			"environment staging deployment_branch_policy.branches",
			"environment staging deployment_branch_policy.tags",
			"environment staging reviewers.users",
			"environment staging wait_timer",
			"environment production deployment_branch_policy",
			"environment production deployment_branch_policy.tags",
			"environment production prevent_self_review",
			"environment production reviewers.teams",
			"environment production reviewers.users",
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("changed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		diffs, err := Check(context.Background(), c, "smp", "order-svc", s)
		if err != nil || len(diffs) != 0 {
			t.Fatalf("second Check = %v, %v; want GitHub matching", diffs, err)
		}
	})
	t.Run("a repository secret GITOPS_TOKEN is left in place and reported with why and how to fix it", func(t *testing.T) {
		t.Parallel()
		_, c := newRecordedGitHub(t, "apply_repository_secret")
		changed, left, err := Apply(context.Background(), c, "smp", "order-svc", committedSettings(t))
		if err != nil || len(changed) != 0 || len(left) != 1 {
			t.Fatalf("Apply = %v, left %v, %v; want nothing changed and the repository secret left", changed, left, err)
		}
		want := "repository: secret GITOPS_TOKEN: GitHub has a repository secret, settings want only environment secrets (dev, staging, production); " +
			"delete the repository secret GITOPS_TOKEN: every job, a branch's too, can read it, and a job in an environment without its own GITOPS_TOKEN gets it; " +
			"once each environment has its own: gh secret delete GITOPS_TOKEN --repo smp/order-svc"
		if got := left[0].String(); got != want || !left[0].ByHand() {
			t.Errorf("left:\n%s\nwant:\n%s", got, want)
		}
	})
	t.Run("signed commits are switched on through their own endpoint", func(t *testing.T) {
		t.Parallel()
		_, c := newRecordedGitHub(t, "apply_signatures")
		s := committedSettings(t)
		s.Branches[0].RequiredSignatures = true
		changed, left, err := Apply(context.Background(), c, "smp", "order-svc", s)
		if err != nil || len(changed) != 1 || changed[0].Field != "required_signatures" || len(left) != 0 {
			t.Fatalf("Apply = %v, left %v, %v; want only required_signatures changed", changed, left, err)
		}
	})
	t.Run("a matching repository is left alone", func(t *testing.T) {
		t.Parallel()
		_, c := newRecordedGitHub(t, "apply_matching")
		changed, left, err := Apply(context.Background(), c, "smp", "order-svc", committedSettings(t))
		if err != nil || len(changed)+len(left) != 0 {
			t.Fatalf("Apply = %v, left %v, %v; want nothing changed", changed, left, err)
		}
	})
	t.Run("a token without admin rights is refused, with GitHub's reason", func(t *testing.T) {
		t.Parallel()
		_, c := newRecordedGitHub(t, "no_admin")
		_, _, err := Apply(context.Background(), c, "smp", "order-svc", committedSettings(t))
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "403 Resource not accessible by integration") {
			t.Fatalf("Apply error = %v, want a 403 refusal", err)
		}
	})
}

func TestBadCredentialsNeverPrintTheToken(t *testing.T) {
	t.Parallel()
	_, c := newRecordedGitHub(t, "bad_credentials")
	_, err := Check(context.Background(), c, "smp", "order-svc", committedSettings(t))
	if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "401 Bad credentials") {
		t.Fatalf("error = %v, want a 401 refusal", err)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Fatal("the error message contains the token")
	}
}

func TestUnreachableGitHubIsAnErrorWithoutTheToken(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	c := &Client{BaseURL: url, Token: testToken}
	_, err := Check(context.Background(), c, "smp", "order-svc", committedSettings(t))
	if err == nil || strings.Contains(err.Error(), testToken) {
		t.Fatalf("error = %v; want a connection error without the token", err)
	}
}

// TestSmpGitopsLetsThePipelinesBotPushAndPeopleOpenPullRequests: the
// settings `smpctl gitops init` writes into smp-gitops (.github/settings.yml)
// protect main with CODEOWNERS review and let the pipeline's GitHub App push
// without a pull request; applied to a repository protected without the
// allowance, only that changes.
func TestSmpGitopsLetsThePipelinesBotPushAndPeopleOpenPullRequests(t *testing.T) {
	t.Parallel()
	s, err := Load(filepath.Join("..", "..", "deploy", "gitops", "files", ".github", "settings.yml"))
	if err != nil {
		t.Fatal(err)
	}
	_, c := newRecordedGitHub(t, "apply_gitops_bypass")
	changed, left, err := Apply(context.Background(), c, "smp", "smp-gitops", s)
	if err != nil || len(left) != 0 {
		t.Fatal(left, err)
	}
	var got []string
	for _, d := range changed {
		got = append(got, d.Field+" "+d.GitHub+"→"+d.Want)
	}
	want := []string{
		"required_pull_request_reviews.bypass_pull_request_allowances.apps →[smp-delivery]",
		"required_pull_request_reviews.bypass_pull_request_allowances.teams →[]",
		"required_pull_request_reviews.bypass_pull_request_allowances.users →[]",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("changed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
