package protect

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/smp/delivery/internal/fault"
)

// DefaultAPIURL is GitHub.com's REST API.
const DefaultAPIURL = "https://api.github.com"

// apiVersion is the REST API version the requests and the recorded
// contract follow.
const apiVersion = "2022-11-28"

// ErrRefused is wrapped when GitHub answers with an error status.
var ErrRefused = fault.Refusedf("GitHub refused")

// Client is a small GitHub REST client for the endpoints protect needs.
type Client struct {
	// BaseURL is the API root, DefaultAPIURL unless GitHub Enterprise.
	BaseURL string
	// Token authenticates every request; it never appears in errors.
	Token string
	// HTTP is the transport; its Timeout bounds each call (30s by default).
	HTTP *http.Client
	// CallTimeout bounds each request on top of ctx (30s by default).
	CallTimeout time.Duration
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) (int, error) {
	base := c.BaseURL
	if base == "" {
		base = DefaultAPIURL
	}
	timeout := c.CallTimeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, fmt.Errorf("%s %s: encode: %w", method, path, err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(base, "/")+path, rd)
	if err != nil {
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", apiVersion)
	req.Header.Set("User-Agent", "smpctl-repo-protect")
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: timeout}
	}
	resp, err := hc.Do(req)
	if err != nil {
		// url.Error carries the URL only; the token is in a header.
		return 0, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return resp.StatusCode, fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Message string `json:"message"`
		}
		_ = json.Unmarshal(raw, &e)
		return resp.StatusCode, fmt.Errorf("%w %s %s: %w", ErrRefused, method, path, statusError{resp.StatusCode, strings.TrimSpace(e.Message)})
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode response: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

// statusError is GitHub's error answer: its status and message.
type statusError struct {
	code    int
	message string
}

func (e statusError) Error() string { return fmt.Sprintf("%d %s", e.code, e.message) }

// repoState is the part of GET /repos/{owner}/{repo} protect compares.
type repoState struct {
	DeleteBranchOnMerge bool `json:"delete_branch_on_merge"`
	AllowMergeCommit    bool `json:"allow_merge_commit"`
	AllowSquashMerge    bool `json:"allow_squash_merge"`
	AllowRebaseMerge    bool `json:"allow_rebase_merge"`
}

type enabled struct {
	Enabled bool `json:"enabled"`
}

// protectionState is GET /repos/{o}/{r}/branches/{b}/protection.
type protectionState struct {
	// The same shapes (and JSON names) as the settings file's.
	RequiredStatusChecks       *StatusChecks `json:"required_status_checks"`
	RequiredPullRequestReviews *reviewsState `json:"required_pull_request_reviews"`
	EnforceAdmins              *enabled      `json:"enforce_admins"`
	RequiredLinearHistory      *enabled      `json:"required_linear_history"`
	AllowForcePushes           *enabled      `json:"allow_force_pushes"`
	AllowDeletions             *enabled      `json:"allow_deletions"`
	RequiredSignatures         *enabled      `json:"required_signatures"`
}

// reviewsState is GitHub's answer for the review rules: the settings'
// fields, and the bypass allowances as user, team and app objects.
type reviewsState struct {
	PullRequestReviews
	BypassAllowances *struct {
		Users []struct {
			Login string `json:"login"`
		} `json:"users"`
		Teams []struct {
			Slug string `json:"slug"`
		} `json:"teams"`
		Apps []struct {
			Slug string `json:"slug"`
		} `json:"apps"`
	} `json:"bypass_pull_request_allowances"`
}

// settings is r in the settings file's terms (nil: no review rules).
func (r *reviewsState) settings() *PullRequestReviews {
	if r == nil {
		return nil
	}
	p := r.PullRequestReviews
	if a := r.BypassAllowances; a != nil {
		p.Bypass = &Bypass{}
		for _, u := range a.Users {
			p.Bypass.Users = append(p.Bypass.Users, u.Login)
		}
		for _, t := range a.Teams {
			p.Bypass.Teams = append(p.Bypass.Teams, t.Slug)
		}
		for _, x := range a.Apps {
			p.Bypass.Apps = append(p.Bypass.Apps, x.Slug)
		}
	}
	return &p
}

func repoPath(owner, name string) string {
	return "/repos/" + url.PathEscape(owner) + "/" + url.PathEscape(name)
}

func branchPath(owner, name, branch string) string {
	return repoPath(owner, name) + "/branches/" + url.PathEscape(branch) + "/protection"
}

func (c *Client) getRepo(ctx context.Context, owner, name string) (repoState, error) {
	var r repoState
	_, err := c.do(ctx, http.MethodGet, repoPath(owner, name), nil, &r)
	return r, err
}

// getProtection returns nil (and no error) for an unprotected branch.
func (c *Client) getProtection(ctx context.Context, owner, name, branch string) (*protectionState, error) {
	var p protectionState
	code, err := c.do(ctx, http.MethodGet, branchPath(owner, name, branch), nil, &p)
	if code == http.StatusNotFound && errors.Is(err, ErrRefused) && strings.Contains(err.Error(), "Branch not protected") {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// perPage is the page size of the list endpoints (GitHub's maximum).
const perPage = 100

// listPage is one page of a list endpoint: GitHub names the items
// "secrets" or "branch_policies" and counts them all in total_count.
type listPage[T any] struct {
	TotalCount     int `json:"total_count"`
	Secrets        []T `json:"secrets"`
	BranchPolicies []T `json:"branch_policies"`
}

// listAll reads every page of a list endpoint.
func listAll[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var all []T
	for n := 1; ; n++ {
		var p listPage[T]
		if _, err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s?per_page=%d&page=%d", path, perPage, n), nil, &p); err != nil {
			return nil, err
		}
		items := p.Secrets // or the branch policies: one of the two
		items = append(items, p.BranchPolicies...)
		all = append(all, items...)
		if len(items) < perPage || len(all) >= p.TotalCount {
			return all, nil
		}
	}
}

// secretJSON is an item of the secrets lists: a name, never a value.
type secretJSON struct {
	Name string `json:"name"`
}

// secretNames returns the upper-case names of a secrets list (GitHub
// compares secret names without case).
func secretNames(ctx context.Context, c *Client, path string) (map[string]bool, error) {
	items, err := listAll[secretJSON](ctx, c, path)
	if err != nil {
		return nil, err
	}
	names := map[string]bool{}
	for _, s := range items {
		names[strings.ToUpper(s.Name)] = true
	}
	return names, nil
}

// repoSecrets lists the repository's Actions secrets.
func (c *Client) repoSecrets(ctx context.Context, owner, name string) (map[string]bool, error) {
	return secretNames(ctx, c, repoPath(owner, name)+"/actions/secrets")
}

// orgSecrets lists the organization secrets shared with the repository. A
// repository owned by a user has none; GitHub may answer 404 for it.
func (c *Client) orgSecrets(ctx context.Context, owner, name string) (map[string]bool, error) {
	names, err := secretNames(ctx, c, repoPath(owner, name)+"/actions/organization-secrets")
	var status statusError
	if errors.As(err, &status) && status.code == http.StatusNotFound {
		return map[string]bool{}, nil
	}
	return names, err
}

func environmentPath(owner, name, env string) string {
	return repoPath(owner, name) + "/environments/" + url.PathEscape(env)
}

// environmentJSON is GET /repos/{o}/{r}/environments/{env}: the rules as
// a list of typed protection rules.
type environmentJSON struct {
	ProtectionRules []struct {
		Type              string `json:"type"`
		WaitTimer         int    `json:"wait_timer"`
		PreventSelfReview bool   `json:"prevent_self_review"`
		Reviewers         []struct {
			Type     string `json:"type"`
			Reviewer struct {
				ID    int64  `json:"id"`
				Login string `json:"login"`
				Slug  string `json:"slug"`
			} `json:"reviewer"`
		} `json:"reviewers"`
	} `json:"protection_rules"`
	DeploymentBranchPolicy *struct {
		ProtectedBranches    bool `json:"protected_branches"`
		CustomBranchPolicies bool `json:"custom_branch_policies"`
	} `json:"deployment_branch_policy"`
}

// branchPolicyJSON is a custom deployment branch or tag policy.
type branchPolicyJSON struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Type is "branch" or "tag"; GitHub servers that predate tag policies
	// leave it out, and then it is a branch.
	Type string `json:"type"`
}

func (p branchPolicyJSON) kind() string {
	if p.Type == "" {
		return "branch"
	}
	return p.Type
}

// getEnvironment returns nil (and no error) for an environment GitHub does
// not have.
func (c *Client) getEnvironment(ctx context.Context, owner, name, env string) (*environmentJSON, error) {
	var e environmentJSON
	_, err := c.do(ctx, http.MethodGet, environmentPath(owner, name, env), nil, &e)
	var status statusError
	if errors.As(err, &status) && status.code == http.StatusNotFound {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &e, nil
}

func (c *Client) branchPolicies(ctx context.Context, owner, name, env string) ([]branchPolicyJSON, error) {
	return listAll[branchPolicyJSON](ctx, c, environmentPath(owner, name, env)+"/deployment-branch-policies")
}

// userID resolves a login to the id the environments API takes.
func (c *Client) userID(ctx context.Context, login string) (int64, error) {
	var u struct {
		ID int64 `json:"id"`
	}
	_, err := c.do(ctx, http.MethodGet, "/users/"+url.PathEscape(login), nil, &u)
	return u.ID, err
}

// teamID resolves a team of org by its slug.
func (c *Client) teamID(ctx context.Context, org, slug string) (int64, error) {
	var t struct {
		ID int64 `json:"id"`
	}
	_, err := c.do(ctx, http.MethodGet, "/orgs/"+url.PathEscape(org)+"/teams/"+url.PathEscape(slug), nil, &t)
	return t.ID, err
}
