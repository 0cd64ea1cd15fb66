package notifycontract

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
)

// GitHub is the recorded contract of GitHub's REST API "Create an issue",
// from https://docs.github.com/en/rest/issues/issues#create-an-issue and
// https://docs.github.com/en/rest/using-the-rest-api/getting-started-with-the-rest-api
// (headers): POST /repos/{owner}/{repo}/issues with "Authorization: Bearer
// <token>", "Accept: application/vnd.github+json",
// "X-GitHub-Api-Version: 2022-11-28" and a User-Agent (requests without
// one are refused); a JSON body with title (required), body and labels (an
// array of strings). It answers 201 with the issue (number, html_url);
// 401 Bad credentials; 404 for a repository the token cannot see; 410 when
// issues are disabled; 422 Validation Failed.
type GitHub struct {
	*server
	// Repository is owner/name, the only one that exists.
	Repository string
	number     atomic.Int64
}

// GitHubRepository is the repository NewGitHub serves.
const GitHubRepository = "smp/incidents"

var issuesPath = regexp.MustCompile(`^/repos/([^/]+/[^/]+)/issues$`)

// Answers the real API gives.
var (
	GitHubBadCredentials = Answer{Status: http.StatusUnauthorized, Body: `{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest","status":"401"}`}
	GitHubServerError    = Answer{Status: http.StatusBadGateway, Body: `{"message":"Server Error"}`}
)

// NewGitHub starts a create-issue contract server, closed and checked at t's cleanup.
func NewGitHub(t testing.TB) *GitHub {
	g := &GitHub{Repository: GitHubRepository}
	g.server = newServer(t, "github", g.check,
		Answer{Status: http.StatusUnprocessableEntity, Body: `{"message":"Validation Failed","documentation_url":"https://docs.github.com/rest/issues/issues#create-an-issue","status":"422"}`},
		Answer{})
	g.auth = func(r *http.Request) (Answer, bool) {
		return GitHubBadCredentials, !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ")
	}
	// The success answer carries the next issue number.
	g.success = func() Answer {
		n := g.number.Add(1)
		return Answer{Status: http.StatusCreated, Body: fmt.Sprintf(`{"number":%d,"html_url":"https://github.com/%s/issues/%d","state":"open"}`, n, g.Repository, n)}
	}
	return g
}

// APIURL is the API root to give the sender.
func (g *GitHub) APIURL() string { return g.URL }

func (g *GitHub) check(r *http.Request, m map[string]any) []string {
	var errs []string
	sub := issuesPath.FindStringSubmatch(r.URL.Path)
	if r.Method != http.MethodPost || sub == nil {
		errs = append(errs, fmt.Sprintf("%s %s, want POST /repos/{owner}/{repo}/issues", r.Method, r.URL.Path))
	} else if sub[1] != g.Repository {
		errs = append(errs, fmt.Sprintf("repository %s, want %s", sub[1], g.Repository))
	}
	if a := r.Header.Get("Authorization"); len(a) < len("Bearer x") || !strings.HasPrefix(a, "Bearer ") {
		errs = append(errs, "Authorization: want Bearer and a token")
	}
	if r.Header.Get("Accept") != "application/vnd.github+json" {
		errs = append(errs, "Accept: want application/vnd.github+json")
	}
	if r.Header.Get("X-GitHub-Api-Version") != "2022-11-28" {
		errs = append(errs, "X-GitHub-Api-Version: want 2022-11-28")
	}
	if r.Header.Get("User-Agent") == "" {
		errs = append(errs, "User-Agent: required by GitHub")
	}
	if _, ok := str(m, "title"); !ok {
		errs = append(errs, "title: required")
	}
	if b, ok := m["body"]; ok {
		if _, isStr := b.(string); !isStr {
			errs = append(errs, "body: want a string")
		}
	}
	if l, ok := m["labels"]; ok {
		labels, isArr := l.([]any)
		if !isArr {
			errs = append(errs, "labels: want an array of strings")
		}
		for i, x := range labels {
			if s, _ := x.(string); s == "" {
				errs = append(errs, fmt.Sprintf("labels[%d]: want a non-empty string", i))
			}
		}
	}
	return errs
}
