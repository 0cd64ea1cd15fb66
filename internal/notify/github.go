package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
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
	// Hidden in the rendered issue: what finds it again (Send).
	fmt.Fprintf(&b, "\n%s\n", incidentMarker(e))
	return GitHubIssue{Title: title, Body: b.String(), Labels: labels}
}

// incidentMarker names the rollback an issue is the incident of, as an
// HTML comment GitHub does not show: its environment, service, the two
// digests and the event's time, which a resend from the outbox keeps.
func incidentMarker(e Event) string {
	return fmt.Sprintf("<!-- smp-delivery incident: %s/%s %s→%s at %d -->", e.Env, e.Service, e.PreviousDigest, e.Digest, e.Time.Unix())
}

// incidentLookback is how long before the event an issue found by Send may
// have been updated: clocks of the CI runner and GitHub differ.
const incidentLookback = 10 * time.Minute

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
	headers := map[string]string{
		"Authorization":        "Bearer " + g.Token,
		"Accept":               "application/vnd.github+json",
		"X-GitHub-Api-Version": "2022-11-28",
	}
	// GitHub's create-issue takes no idempotency key: an attempt whose
	// answer was lost (a 502 from a proxy, a timeout) may have opened the
	// issue, and so may an earlier run whose resend this is. Look for it
	// first; a lookup that fails opens the issue anyway: two incidents are
	// better than none.
	if found := g.find(ctx, c, u, headers, e); found != "" {
		return found, nil
	}
	a, err := postJSON(ctx, c, g.Name(), u, headers, IncidentIssueFor(e, g.Labels))
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

// find returns the html_url of the incident issue already opened for e
// (its incidentMarker in the body) among the issues updated since shortly
// before e, or "" when there is none or GitHub did not say.
func (g *GitHub) find(ctx context.Context, c *http.Client, issues string, headers map[string]string, e Event) string {
	q := url.Values{"state": {"all"}, "sort": {"created"}, "direction": {"desc"}, "per_page": {"100"}}
	if !e.Time.IsZero() {
		q.Set("since", e.Time.Add(-incidentLookback).UTC().Format(time.RFC3339))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, issues+"?"+q.Encode(), nil)
	if err != nil {
		return ""
	}
	req.Header.Set("User-Agent", "smpctl-notify")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return ""
	}
	var list []struct {
		Body    string `json:"body"`
		HTMLURL string `json:"html_url"`
	}
	if json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&list) != nil {
		return ""
	}
	marker := incidentMarker(e)
	for _, is := range list {
		if is.HTMLURL != "" && strings.Contains(is.Body, marker) {
			return is.HTMLURL
		}
	}
	return ""
}
