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
		}},
		{"check_drifted", []string{
			"branch main allow_force_pushes true→false",
			"branch main required_linear_history false→true",
			"branch main required_pull_request_reviews.required_approving_review_count 0→1",
			"branch main required_status_checks.contexts [ci / lint, ci / test]→[ci / lint, ci / openapi, ci / security, ci / test]",
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
	t.Run("an unprotected repository is patched, protected and verified", func(t *testing.T) {
		t.Parallel()
		_, c := newRecordedGitHub(t, "apply_unprotected")
		changed, err := Apply(context.Background(), c, "smp", "order-svc", committedSettings(t))
		if err != nil || len(changed) != 13 {
			t.Fatalf("Apply = %d changes, %v; want the 13 differences fixed", len(changed), err)
		}
	})
	t.Run("signed commits are switched on through their own endpoint", func(t *testing.T) {
		t.Parallel()
		_, c := newRecordedGitHub(t, "apply_signatures")
		s := committedSettings(t)
		s.Branches[0].RequiredSignatures = true
		changed, err := Apply(context.Background(), c, "smp", "order-svc", s)
		if err != nil || len(changed) != 1 || changed[0].Field != "required_signatures" {
			t.Fatalf("Apply = %v, %v; want only required_signatures changed", changed, err)
		}
	})
	t.Run("a matching repository is left alone", func(t *testing.T) {
		t.Parallel()
		_, c := newRecordedGitHub(t, "apply_matching")
		changed, err := Apply(context.Background(), c, "smp", "order-svc", committedSettings(t))
		if err != nil || len(changed) != 0 {
			t.Fatalf("Apply = %v, %v; want nothing changed", changed, err)
		}
	})
	t.Run("a token without admin rights is refused, with GitHub's reason", func(t *testing.T) {
		t.Parallel()
		_, c := newRecordedGitHub(t, "no_admin")
		_, err := Apply(context.Background(), c, "smp", "order-svc", committedSettings(t))
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
	changed, err := Apply(context.Background(), c, "smp", "smp-gitops", s)
	if err != nil {
		t.Fatal(err)
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
