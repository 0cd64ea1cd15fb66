package gc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// GHCR is the backend for ghcr.io, through the GitHub Packages REST API
// (docs.github.com/rest/packages): a package version is one digest, and
// deleting it deletes every tag on it — which is why retention decides by
// digest. The registry's own API cannot delete on GHCR.
type GHCR struct {
	// API is the REST endpoint (default https://api.github.com).
	API string
	// Owner is the organisation or user that owns the package (smp).
	Owner string
	// User is true when Owner is a user account, not an organisation.
	User bool
	// Package is the package name (order-svc, or nested/name).
	Package string
	// Token is a token with read:packages and delete:packages (GITHUB_TOKEN
	// in Actions); it is sent, never printed.
	Token string
	// Client is the HTTP client (default: one with a 30 s timeout).
	Client *http.Client
}

var _ Backend = (*GHCR)(nil)

// NewGHCR returns the backend for a ghcr.io repository path (smp/order-svc).
func NewGHCR(repoPath, token string) (*GHCR, error) {
	owner, pkg, ok := strings.Cut(repoPath, "/")
	if !ok || owner == "" || pkg == "" {
		return nil, fmt.Errorf("%w: ghcr.io repository %q has no owner/package", ErrBadInput, repoPath)
	}
	if token == "" {
		return nil, fmt.Errorf("%w: GHCR retention needs GITHUB_TOKEN with read:packages and delete:packages", ErrBadInput)
	}
	return &GHCR{Owner: owner, Package: pkg, Token: token}, nil
}

// Name implements Backend.
func (g *GHCR) Name() string { return "ghcr ghcr.io/" + g.Owner + "/" + g.Package }

func (g *GHCR) base() string {
	api := strings.TrimSuffix(g.API, "/")
	if api == "" {
		api = "https://api.github.com"
	}
	kind := "orgs"
	if g.User {
		kind = "users"
	}
	return fmt.Sprintf("%s/%s/%s/packages/container/%s/versions", api, kind, url.PathEscape(g.Owner), url.PathEscape(g.Package))
}

func (g *GHCR) do(ctx context.Context, method, u string, want int) ([]byte, error) {
	c := g.Client
	if c == nil {
		c = &http.Client{Timeout: 30 * time.Second}
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", "2022-11-28")
	req.Header.Set("Authorization", "Bearer "+g.Token)
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u, err)
	}
	if resp.StatusCode != want {
		var e struct{ Message string }
		_ = json.Unmarshal(body, &e)
		hint := ""
		switch resp.StatusCode {
		case http.StatusUnauthorized, http.StatusForbidden:
			hint = ": the token needs read:packages and delete:packages on " + g.Owner
		case http.StatusNotFound:
			hint = ": no such package (is the owner an organisation or a user?)"
		}
		return nil, fmt.Errorf("%s %s: %d %s%s", method, u, resp.StatusCode, e.Message, hint)
	}
	return body, nil
}

// packageVersion is the API's shape (the fields we read).
type packageVersion struct {
	ID        int64     `json:"id"`
	Name      string    `json:"name"` // the digest
	CreatedAt time.Time `json:"created_at"`
	Metadata  struct {
		Container struct {
			Tags []string `json:"tags"`
		} `json:"container"`
	} `json:"metadata"`
}

// List implements Backend, following pages of 100.
func (g *GHCR) List(ctx context.Context) ([]Version, error) {
	var out []Version
	for page := 1; page <= 1000; page++ {
		body, err := g.do(ctx, http.MethodGet, g.base()+"?per_page=100&page="+strconv.Itoa(page), http.StatusOK)
		if err != nil {
			return nil, err
		}
		var pvs []packageVersion
		if err := json.Unmarshal(body, &pvs); err != nil {
			return nil, fmt.Errorf("read package versions: %w", err)
		}
		for _, pv := range pvs {
			out = append(out, Version{Digest: pv.Name, Tags: pv.Metadata.Container.Tags, Created: pv.CreatedAt, ID: strconv.FormatInt(pv.ID, 10)})
		}
		if len(pvs) < 100 {
			return out, nil
		}
	}
	return nil, fmt.Errorf("more than 100000 versions of %s: refusing to continue", g.Name())
}

// Delete implements Backend.
func (g *GHCR) Delete(ctx context.Context, v Version) error {
	if v.ID == "" {
		return fmt.Errorf("version %s has no package version id", v.Digest)
	}
	_, err := g.do(ctx, http.MethodDelete, g.base()+"/"+url.PathEscape(v.ID), http.StatusNoContent)
	return err
}
