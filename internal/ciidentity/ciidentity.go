// Package ciidentity proves who a CI run is: it asks GitHub Actions for the
// run's OIDC token and verifies it against the issuer's published keys
// (OpenID Connect discovery, with coreos/go-oidc), so that what smpctl
// records of a pipeline's write — its repository, workflow, run and actor —
// is what GitHub signed rather than what a flag says.
//
// The token is verified once, when smpctl writes; the commit carries its
// claims as trailers. Nothing later can verify them again (the token expires
// within minutes and the issuer rotates its keys): they are the writer's
// attestation, and what keeps a person from pushing such trailers by hand is
// smp-gitops' branch protection (docs/security.md).
package ciidentity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/smp/delivery/internal/fault"
)

const (
	// GitHubIssuer is GitHub Actions' OIDC issuer.
	GitHubIssuer = "https://token.actions.githubusercontent.com"
	// Audience is the audience smpctl asks for and requires: a token minted
	// for another audience (a cloud provider's) is not accepted as one for
	// smpctl, and the reverse.
	Audience = "smp-delivery"
)

// ErrNoToken means the run cannot mint a token (the job lacks id-token: write,
// or this is not GitHub Actions).
var ErrNoToken = fault.Invalidf("no OIDC token to ask for: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set (give the job `permissions: id-token: write`; outside GitHub Actions drop --oidc)")

// ErrNotProven means the token was refused (signature, issuer, audience, expiry,
// or a claim smpctl needs is missing).
var ErrNotProven = fault.Refusedf("the run's OIDC token does not prove who it is")

// Identity is what a verified token says of the run.
type Identity struct {
	Issuer string `json:"issuer"`
	// Subject is the token's sub, e.g. repo:smp/order-svc:environment:prod.
	Subject    string `json:"subject"`
	Repository string `json:"repository"`
	// Workflow is the workflow_ref: the workflow file at the ref that ran.
	Workflow string `json:"workflow"`
	// JobWorkflow is the job_workflow_ref: the workflow the job itself
	// ran in — for a job of a reusable workflow (smp/delivery's cd.yml),
	// that workflow at the ref the caller pinned, not the caller's.
	JobWorkflow string `json:"jobWorkflow,omitempty"`
	RunID       string `json:"runId"`
	RunAttempt  string `json:"runAttempt"`
	Actor       string `json:"actor"`
	Environment string `json:"environment,omitempty"`
	Ref         string `json:"ref,omitempty"`
	SHA         string `json:"sha,omitempty"`
}

// Run is the run and its attempt, e.g. "1234567890/1".
func (id Identity) Run() string {
	if id.RunAttempt == "" {
		return id.RunID
	}
	return id.RunID + "/" + id.RunAttempt
}

// RunURL is the run's page on server (https://github.com).
func (id Identity) RunURL(server string) string {
	return strings.TrimSuffix(server, "/") + "/" + id.Repository + "/actions/runs/" + id.RunID
}

// Names reports whether runURL is a page of this run: its repository and
// run id (the attempt and any server).
func (id Identity) Names(runURL string) bool {
	u, err := url.Parse(runURL)
	if err != nil {
		return false
	}
	p := strings.TrimSuffix(u.Path, "/")
	want := "/" + id.Repository + "/actions/runs/" + id.RunID
	return p == want || strings.HasPrefix(p, want+"/attempts/")
}

// Options say where the token comes from and what it must say.
type Options struct {
	// Issuer is the issuer the token must come from; default GitHubIssuer.
	// It must be https, or http on a loopback address (tests, a local
	// issuer).
	Issuer string
	// Client makes every request; default http.DefaultClient.
	Client *http.Client
	// Now is the clock expiry is checked against; default time.Now.
	Now func() time.Time
}

func (o Options) issuer() string {
	if o.Issuer == "" {
		return GitHubIssuer
	}
	return o.Issuer
}

func (o Options) client() *http.Client {
	if o.Client == nil {
		return http.DefaultClient
	}
	return o.Client
}

// FromGitHubActions asks the running job for its OIDC token (GitHub's
// ACTIONS_ID_TOKEN_REQUEST_URL, with the job's request token) for Audience
// and verifies it.
func FromGitHubActions(ctx context.Context, getenv func(string) string, o Options) (Identity, error) {
	raw, err := request(ctx, getenv, o.client())
	if err != nil {
		return Identity{}, err
	}
	return Verify(ctx, raw, o)
}

// request is GitHub's token request: GET the request URL with
// &audience=..., the request token as a bearer; the answer is
// {"value": "<JWT>"}.
func request(ctx context.Context, getenv func(string) string, c *http.Client) (string, error) {
	reqURL, reqTok := getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
	if reqURL == "" || reqTok == "" {
		return "", ErrNoToken
	}
	u, err := url.Parse(reqURL)
	if err != nil {
		return "", fault.Invalidf("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL: %v", err)
	}
	q := u.Query()
	q.Set("audience", Audience)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "bearer "+reqTok)
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return "", fmt.Errorf("ask GitHub Actions for the run's OIDC token: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fmt.Errorf("read the run's OIDC token: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fault.Refusedf("GitHub Actions refused the run's OIDC token: %s: %.200s", resp.Status, body)
	}
	var v struct {
		Value string `json:"value"`
	}
	if err := json.Unmarshal(body, &v); err != nil || v.Value == "" {
		return "", fault.Refusedf("GitHub Actions answered the token request without a token (%.200s)", body)
	}
	return v.Value, nil
}

// claims are the GitHub Actions claims smpctl records.
type claims struct {
	Repository  string `json:"repository"`
	WorkflowRef string `json:"workflow_ref"`
	JobWorkflow string `json:"job_workflow_ref"`
	RunID       string `json:"run_id"`
	RunAttempt  string `json:"run_attempt"`
	Actor       string `json:"actor"`
	Environment string `json:"environment"`
	Ref         string `json:"ref"`
	SHA         string `json:"sha"`
}

// Verify checks raw against the issuer's keys (found by OpenID Connect
// discovery at the issuer), its issuer, its audience (Audience) and its
// expiry, and returns what it says of the run. A token that fails any of
// them is ErrNotProven, with why.
func Verify(ctx context.Context, raw string, o Options) (Identity, error) {
	iss := o.issuer()
	if err := checkIssuer(iss); err != nil {
		return Identity{}, err
	}
	ctx = oidc.ClientContext(ctx, o.client())
	p, err := oidc.NewProvider(ctx, iss)
	if err != nil {
		return Identity{}, fmt.Errorf("read the OIDC issuer's configuration (%s): %w", iss, err)
	}
	cfg := &oidc.Config{ClientID: Audience, Now: o.Now}
	tok, err := p.Verifier(cfg).Verify(ctx, raw)
	if err != nil {
		var exp *oidc.TokenExpiredError
		if errors.As(err, &exp) {
			return Identity{}, fmt.Errorf("%w: it expired at %s", ErrNotProven, exp.Expiry.UTC().Format(time.RFC3339))
		}
		return Identity{}, fmt.Errorf("%w: %w", ErrNotProven, err)
	}
	var c claims
	if err := tok.Claims(&c); err != nil {
		return Identity{}, fmt.Errorf("%w: its claims: %w", ErrNotProven, err)
	}
	if c.Repository == "" || c.RunID == "" || c.Actor == "" || c.WorkflowRef == "" {
		return Identity{}, fmt.Errorf("%w: it lacks a GitHub Actions claim (repository %q, run_id %q, actor %q, workflow_ref %q)",
			ErrNotProven, c.Repository, c.RunID, c.Actor, c.WorkflowRef)
	}
	return Identity{Issuer: tok.Issuer, Subject: tok.Subject, Repository: c.Repository, Workflow: c.WorkflowRef, JobWorkflow: c.JobWorkflow,
		RunID: c.RunID, RunAttempt: c.RunAttempt, Actor: c.Actor, Environment: c.Environment, Ref: c.Ref, SHA: c.SHA}, nil
}

// checkIssuer refuses an issuer whose keys could be swapped on the way:
// https, or http only on loopback.
func checkIssuer(iss string) error {
	u, err := url.Parse(iss)
	if err != nil || u.Host == "" {
		return fault.Invalidf("OIDC issuer %q is not a URL: give one such as %s", iss, GitHubIssuer)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if ip := net.ParseIP(u.Hostname()); ip != nil && ip.IsLoopback() {
			return nil
		}
	}
	return fault.Invalidf("OIDC issuer %s: use https (http only on a loopback address), e.g. %s", iss, GitHubIssuer)
}
