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
	t.Run("apply protects an unprotected repository", func(t *testing.T) {
		t.Parallel()
		code, out, errs := runRepo(t, "apply_unprotected", env, "repo", "protect", "--apply", "--repo", "smp/order-svc", "-o", "json")
		if code != 0 || !strings.Contains(out, `"matches": true`) || !strings.Contains(out, `"field": "required_linear_history"`) {
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
