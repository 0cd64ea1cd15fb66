package cli

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/protect/protecttest"
)

const repoTestToken = "ghp_cliTESTtokenNEVERprinted012345678"

// runRepo runs smpctl in-process against the RECORDED CONTRACT of the
// GitHub API (package protecttest), never the real GitHub.
func runRepo(t *testing.T, scenario string, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	url := protecttest.Serve(t, scenario, repoTestToken)
	var out, errb bytes.Buffer
	a := &App{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errb, Now: time.Now,
		Getenv: func(k string) string { return env[k] }}
	settings := filepath.Join("..", "..", ".github", "settings.yml")
	code = a.Run(context.Background(), append(args, "--api-url", url, "--settings", settings))
	if strings.Contains(out.String()+errb.String(), repoTestToken) {
		t.Fatal("smpctl printed the token")
	}
	return code, out.String(), errb.String()
}

func TestRepoProtectAgainstRecordedGitHub(t *testing.T) {
	t.Parallel()
	env := map[string]string{"GITHUB_TOKEN": repoTestToken}
	t.Run("check of a matching repository exits 0", func(t *testing.T) {
		t.Parallel()
		code, out, errs := runRepo(t, "check_matching", env, "repo", "protect", "--check", "--repo", "smp/order-svc")
		if code != 0 || !strings.Contains(out, "smp/order-svc matches") {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
	})
	t.Run("check of a drifted repository exits 1 with the differences", func(t *testing.T) {
		t.Parallel()
		code, out, errs := runRepo(t, "check_drifted", env, "repo", "protect", "--check", "--repo", "smp/order-svc")
		if code != 1 || !strings.Contains(out, "branch main: allow_force_pushes: GitHub has true, settings want false") ||
			!strings.Contains(errs, "run smpctl repo protect --apply") {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
	})
	t.Run("apply protects an unprotected repository and exits 1 with the secrets left to set", func(t *testing.T) {
		t.Parallel()
		code, out, errs := runRepo(t, "apply_unprotected", env, "repo", "protect", "--apply", "--repo", "smp/order-svc", "-o", "json")
		if code != 1 || !strings.Contains(out, `"matches": false`) || !strings.Contains(out, `"field": "required_linear_history"`) ||
			!strings.Contains(out, `"fix": "set it, a token for production alone (smpctl never writes secret values): gh secret set GITOPS_TOKEN --env production --repo smp/order-svc"`) ||
			!strings.Contains(errs, "3 settings only a person can fix") {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
	})
	t.Run("check of drifted environments says which differences apply fixes and which a person must", func(t *testing.T) {
		t.Parallel()
		code, out, errs := runRepo(t, "check_environments_drifted", env, "repo", "protect", "--check", "--repo", "smp/order-svc")
		if code != 1 || !strings.Contains(out, "environment production: prevent_self_review: GitHub has false, settings want true") ||
			!strings.Contains(out, "delete the repository secret GITOPS_TOKEN: every job, a branch's too, can read it") ||
			!strings.Contains(errs, "run smpctl repo protect --apply --repo smp/order-svc for 9, and fix the other 3 (secrets, above) by hand") {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
	})
	t.Run("apply leaves a repository secret GITOPS_TOKEN in place and exits 1 saying why and how to delete it", func(t *testing.T) {
		t.Parallel()
		code, out, errs := runRepo(t, "apply_repository_secret", env, "repo", "protect", "--apply", "--repo", "smp/order-svc")
		want := "smp/order-svc: nothing smpctl can change differs from ../../.github/settings.yml\n" +
			"left for a person (smpctl never writes or deletes a secret):\n" +
			"  repository: secret GITOPS_TOKEN: GitHub has a repository secret, settings want only environment secrets (dev, staging, production); " +
			"delete the repository secret GITOPS_TOKEN: every job, a branch's too, can read it, and a job in an environment without its own GITOPS_TOKEN gets it; " +
			"once each environment has its own: gh secret delete GITOPS_TOKEN --repo smp/order-svc\n"
		if code != 1 || out != want || !strings.Contains(errs, "1 settings only a person can fix") {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
	})
	t.Run("a refusal exits 1 with GitHub's reason", func(t *testing.T) {
		t.Parallel()
		code, out, errs := runRepo(t, "bad_credentials", env, "repo", "protect", "--check", "--repo", "smp/order-svc")
		if code != 1 || !strings.Contains(errs, "401 Bad credentials") {
			t.Fatalf("exit %d\n%s%s", code, out, errs)
		}
	})
}
