package notifycontract

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
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
//
// And "List repository issues"
// (https://docs.github.com/en/rest/issues/issues#list-repository-issues):
// GET /repos/{owner}/{repo}/issues with the same headers and the query
// parameters state (open, closed, all), since (ISO 8601,
// YYYY-MM-DDTHH:MM:SSZ: issues updated at or after it), sort (created,
// updated, comments), direction (asc, desc) and per_page (at most 100). It
// answers 200 with an array of the issues created here (number, title,
// body, html_url, state, created_at, updated_at), newest first.
type GitHub struct {
	*server
	// Repository is owner/name, the only one that exists.
	Repository string
	issues     []githubIssue // guarded by server.mu
	lose       int           // guarded by server.mu
	lists      int           // guarded by server.mu
}

type githubIssue struct {
	Number    int       `json:"number"`
	Title     string    `json:"title"`
	Body      string    `json:"body"`
	HTMLURL   string    `json:"html_url"`
	State     string    `json:"state"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
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
	// A create that meets the contract opens the next issue.
	g.success = func(body map[string]any) Answer {
		n := len(g.issues) + 1
		title, _ := body["title"].(string)
		text, _ := body["body"].(string)
		now := time.Now().UTC()
		is := githubIssue{Number: n, Title: title, Body: text, HTMLURL: fmt.Sprintf("https://github.com/%s/issues/%d", g.Repository, n), State: "open", CreatedAt: now, UpdatedAt: now}
		g.issues = append(g.issues, is)
		if g.lose > 0 {
			g.lose--
			return GitHubServerError
		}
		b, _ := json.Marshal(is)
		return Answer{Status: http.StatusCreated, Body: string(b)}
	}
	g.get = g.list
	return g
}

// LoseNextAnswer makes the next create that meets the contract open its
// issue and answer 502, as when a proxy in front of GitHub gives up after
// GitHub created it: what a retry must not open twice.
func (g *GitHub) LoseNextAnswer() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lose++
}

// Lists counts the list requests that met the contract.
func (g *GitHub) Lists() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.lists
}

func (g *GitHub) list(r *http.Request) (Answer, []string) {
	errs := g.headers(r)
	sub := issuesPath.FindStringSubmatch(r.URL.Path)
	if sub == nil {
		errs = append(errs, fmt.Sprintf("GET %s, want GET /repos/{owner}/{repo}/issues", r.URL.Path))
	} else if sub[1] != g.Repository {
		return Answer{Status: http.StatusNotFound, Body: `{"message":"Not Found","status":"404"}`}, nil
	}
	q := r.URL.Query()
	var since time.Time
	if v := q.Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			errs = append(errs, fmt.Sprintf("since %q: want ISO 8601, YYYY-MM-DDTHH:MM:SSZ", v))
		}
		since = t
	}
	for k, allowed := range map[string][]string{"state": {"open", "closed", "all"}, "sort": {"created", "updated", "comments"}, "direction": {"asc", "desc"}} {
		if v := q.Get(k); v != "" && !oneOf(v, allowed...) {
			errs = append(errs, fmt.Sprintf("%s %q: want one of %s", k, v, strings.Join(allowed, ", ")))
		}
	}
	if v := q.Get("per_page"); v != "" {
		if n, err := strconv.Atoi(v); err != nil || n < 1 || n > 100 {
			errs = append(errs, fmt.Sprintf("per_page %q: want 1 to 100", v))
		}
	}
	if len(errs) > 0 {
		return Answer{}, errs
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.lists++
	out := []githubIssue{}
	for i := len(g.issues) - 1; i >= 0; i-- {
		if is := g.issues[i]; is.UpdatedAt.After(since) || is.UpdatedAt.Equal(since) {
			out = append(out, is)
		}
	}
	b, _ := json.Marshal(out)
	return Answer{Status: http.StatusOK, Body: string(b)}, nil
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
	errs = append(errs, g.headers(r)...)
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

// headers checks the headers every request of the REST API needs.
func (g *GitHub) headers(r *http.Request) []string {
	var errs []string
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
	return errs
}
