package ciidentity_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/ciidentity"
	"github.com/smp/delivery/internal/ciidentity/ciidentitytest"
	"github.com/smp/delivery/internal/fault"
)

// exitCode is smpctl's exit code for err: 2 for bad input, else 1.
func exitCode(err error) int {
	if fault.IsInvalid(err) {
		return 2
	}
	return 1
}

func getenv(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

// TestARunsTokenProvesWhoItIs: the job's token, asked for as GitHub Actions
// hands it out and checked against the issuer's published keys, gives the
// run's repository, workflow, run and actor.
func TestARunsTokenProvesWhoItIs(t *testing.T) {
	t.Parallel()
	is := ciidentitytest.NewIssuer(t)
	id, err := ciidentity.FromGitHubActions(context.Background(), getenv(is.Env()), ciidentity.Options{Issuer: is.URL})
	if err != nil {
		t.Fatal(err)
	}
	want := ciidentity.Identity{Issuer: is.URL, Subject: "repo:smp/order-svc:environment:prod", Repository: "smp/order-svc",
		Workflow: "smp/order-svc/.github/workflows/cd.yml@refs/heads/main", JobWorkflow: "smp/delivery/.github/workflows/cd.yml@refs/tags/v0.2.0", RunID: "1234567890", RunAttempt: "1", Actor: "alice",
		Environment: "prod", Ref: "refs/heads/main", SHA: "0123456789abcdef0123456789abcdef01234567"}
	if id != want {
		t.Errorf("identity:\n got %+v\nwant %+v", id, want)
	}
	if got := is.Audiences(); len(got) != 1 || got[0] != ciidentity.Audience {
		t.Errorf("asked for audiences %q, want [%s]", got, ciidentity.Audience)
	}
	if id.Run() != "1234567890/1" || id.RunURL("https://github.com/") != "https://github.com/smp/order-svc/actions/runs/1234567890" {
		t.Errorf("run %q, url %q", id.Run(), id.RunURL("https://github.com"))
	}
	for url, names := range map[string]bool{
		"https://github.com/smp/order-svc/actions/runs/1234567890":            true,
		"https://github.com/smp/order-svc/actions/runs/1234567890/attempts/2": true,
		"https://github.com/smp/order-svc/actions/runs/1234567891":            false,
		"https://github.com/smp/partner-svc/actions/runs/1234567890":          false,
		"https://github.com/smp/order-svc/actions/runs/12345678900":           false,
	} {
		if id.Names(url) != names {
			t.Errorf("Names(%s) = %v, want %v", url, !names, names)
		}
	}
}

// TestATokenThatDoesNotProveItIsRefused: a token signed with another key,
// for another audience, from another issuer, expired, or without the claims
// smpctl records is a refusal (exit 1), saying why; no token to ask for, or
// an issuer over plain http elsewhere than loopback, is bad input (exit 2).
func TestATokenThatDoesNotProveItIsRefused(t *testing.T) {
	t.Parallel()
	is := ciidentitytest.NewIssuer(t)
	other := ciidentitytest.NewIssuer(t)
	ctx := context.Background()
	o := ciidentity.Options{Issuer: is.URL}
	for name, tc := range map[string]struct {
		raw  string
		want string
	}{
		"signed with another key": {is.Forge(t, ciidentity.Audience), "failed to verify signature"},
		"for another audience":    {is.Mint(t, "sts.amazonaws.com", nil), "expected audience"},
		"from another issuer":     {is.Mint(t, ciidentity.Audience, map[string]any{"iss": ciidentity.GitHubIssuer}), "id token issued by a different provider"},
		"another issuer's key":    {other.Mint(t, ciidentity.Audience, nil), "failed to verify signature"},
		"expired":                 {is.Mint(t, ciidentity.Audience, map[string]any{"exp": time.Now().Add(-time.Minute).Unix()}), "it expired at"},
		"not a JWT":               {"not-a-token", "malformed jwt"},
		"without a run id":        {is.Mint(t, ciidentity.Audience, map[string]any{"run_id": ""}), "it lacks a GitHub Actions claim"},
	} {
		_, err := ciidentity.Verify(ctx, tc.raw, o)
		if !errors.Is(err, ciidentity.ErrNotProven) || exitCode(err) != 1 || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v (exit %d), want a refusal saying %q", name, err, exitCode(err), tc.want)
		}
	}

	if _, err := ciidentity.FromGitHubActions(ctx, getenv(nil), o); !errors.Is(err, ciidentity.ErrNoToken) || exitCode(err) != 2 {
		t.Errorf("without the request variables: %v, want ErrNoToken (exit 2)", err)
	}
	env := is.Env()
	env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "stolen-elsewhere"
	if _, err := ciidentity.FromGitHubActions(ctx, getenv(env), o); err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "401") {
		t.Errorf("a request token the issuer refuses: %v (exit %d), want a refusal with its status", err, exitCode(err))
	}
	if _, err := ciidentity.Verify(ctx, is.Mint(t, ciidentity.Audience, nil), ciidentity.Options{Issuer: "http://issuer.example.com"}); err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "use https") {
		t.Errorf("an http issuer beyond loopback: %v (exit %d), want bad input", err, exitCode(err))
	}
}
