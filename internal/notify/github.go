package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// GitHub opens incident issues through the REST API
// (https://docs.github.com/en/rest/issues/issues#create-an-issue).
type GitHub struct {
	// APIURL is the REST API's root; default GitHubAPIURL.
	APIURL string
	// Repository is owner/name.
	Repository string
	// Token may create issues in Repository; TokenFrom says where it was
	// read from, for the hints.
	Token, TokenFrom string
	// Labels on the issue; default incident.
	Labels []string
	Client *http.Client
}

var _ Sender = (*GitHub)(nil)

// Name implements Sender.
func (g *GitHub) Name() string { return "github" }

// GitHubIssue is the body of POST /repos/{owner}/{repo}/issues.
type GitHubIssue struct {
	Title  string   `json:"title"`
	Body   string   `json:"body"`
	Labels []string `json:"labels,omitempty"`
}

// IncidentIssueFor renders the incident ticket of a rollback: what
// happened, the digests, the gate's figures, who acted, and when the
// post-mortem is due.
func IncidentIssueFor(e Event, labels []string) GitHubIssue {
	if len(labels) == 0 {
		labels = []string{"incident"}
	}
	from := e.PreviousVersion
	if from == "" {
		from = short(e.PreviousDigest)
	}
	title := fmt.Sprintf("Rollback in %s: %s %s → %s", e.Env, e.Service, orNone(from), orNone(e.Version))
	var b strings.Builder
	fmt.Fprintf(&b, "## What happened\n\n%s was rolled back in **%s** at %s", e.Service, e.Env, e.Time.UTC().Format("2006-01-02 15:04:05 MST"))
	if e.By != "" {
		fmt.Fprintf(&b, " by **%s**", e.By)
	}
	b.WriteString(".\n")
	if e.Reason != "" {
		fmt.Fprintf(&b, "\nReason: %s\n", e.Reason)
	}
	b.WriteString("\n| | version | digest |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| rolled back from | %s | `%s` |\n", orNone(e.PreviousVersion), orNone(e.PreviousDigest))
	fmt.Fprintf(&b, "| running now | %s | `%s` |\n", orNone(e.Version), orNone(e.Digest))
	if g := e.Gate; g != nil {
		b.WriteString("\n## Gate figures\n\n")
		fmt.Fprintf(&b, "- error rate: %.2f%% (limit %.2f%%)\n", 100*g.ErrorRate, 100*g.ErrorRateLimit)
		fmt.Fprintf(&b, "- p95 latency: %s vs baseline %s (limit %s)\n", g.P95, g.BaselineP95, g.P95Limit)
		if g.Requests > 0 {
			fmt.Fprintf(&b, "- from %d requests\n", g.Requests)
		}
	}
	b.WriteString("\n## Links\n\n")
	if e.DiffURL != "" {
		fmt.Fprintf(&b, "- diff: %s\n", e.DiffURL)
	}
	if e.RunURL != "" {
		fmt.Fprintf(&b, "- CI run: %s\n", e.RunURL)
	}
	if e.ApprovedBy != "" {
		fmt.Fprintf(&b, "- the release was approved by %s\n", e.ApprovedBy)
	}
	fmt.Fprintf(&b, "\n## Post-mortem\n\nDue by **%s** (48 hours after the rollback) if customers were affected. The service stays on hold in %s until `smpctl hold release`.\n",
		e.Time.Add(PostMortemDue).UTC().Format("2006-01-02 15:04 MST"), e.Env)
	return GitHubIssue{Title: title, Body: b.String(), Labels: labels}
}

// Send implements Sender: it returns the issue's html_url.
func (g *GitHub) Send(ctx context.Context, e Event) (string, error) {
	c := g.Client
	if c == nil {
		c = http.DefaultClient
	}
	api := g.APIURL
	if api == "" {
		api = GitHubAPIURL
	}
	u := strings.TrimSuffix(api, "/") + "/repos/" + g.Repository + "/issues"
	a, err := postJSON(ctx, c, g.Name(), u, map[string]string{
		"Authorization":        "Bearer " + g.Token,
		"Accept":               "application/vnd.github+json",
		"X-GitHub-Api-Version": "2022-11-28",
	}, IncidentIssueFor(e, g.Labels))
	if err != nil {
		return "", err
	}
	var body struct {
		HTMLURL string `json:"html_url"`
		Number  int    `json:"number"`
		Message string `json:"message"`
	}
	_ = json.Unmarshal(a.body, &body)
	if a.status == http.StatusCreated && body.HTMLURL != "" {
		return body.HTMLURL, nil
	}
	hint := ""
	switch a.status {
	case http.StatusCreated:
		return "", &Error{Sender: g.Name(), Status: a.status, Code: "no html_url in the answer", Hint: "the issue may exist: look in " + g.Repository}
	case http.StatusUnauthorized:
		hint = fmt.Sprintf("the token in %s is not valid (expired or revoked); create a token with Issues: write on %s and put it in %s", g.TokenFrom, g.Repository, g.TokenFrom)
	case http.StatusForbidden:
		if a.header.Get("X-RateLimit-Remaining") == "0" || a.header.Get("Retry-After") != "" {
			limited := statusError(g.Name(), a, body.Message, "GitHub is rate limiting the token; open the incident by hand if this persists")
			limited.Temporary = true
			return "", limited
		}
		hint = fmt.Sprintf("the token in %s may not create issues in %s; give it Issues: write there", g.TokenFrom, g.Repository)
	case http.StatusNotFound:
		hint = fmt.Sprintf("no repository %s, or the token in %s cannot see it; check notifications.incidents.github.repository in delivery.yaml and the token's repository access", g.Repository, g.TokenFrom)
	case http.StatusGone:
		hint = fmt.Sprintf("issues are disabled in %s; enable them in the repository's settings", g.Repository)
	case http.StatusUnprocessableEntity:
		hint = "GitHub refused the issue's fields (a label the token may not create?); create the labels in the repository, or report this line"
	}
	return "", statusError(g.Name(), a, truncate(body.Message, 200), hint)
}
