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
		return resp.StatusCode, fmt.Errorf("%w %s %s: %d %s", ErrRefused, method, path, resp.StatusCode, strings.TrimSpace(e.Message))
	}
	if out != nil && len(raw) > 0 {
		if err := json.Unmarshal(raw, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: decode response: %w", method, path, err)
		}
	}
	return resp.StatusCode, nil
}

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
