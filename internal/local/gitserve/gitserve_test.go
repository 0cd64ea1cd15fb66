package gitserve_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/local/gitserve"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// A clone over HTTPS with the token sees the bare repository's commit; a
// wrong token is refused, as a Git host refuses it.
func TestServesBareRepositoriesOnlyToTheToken(t *testing.T) {
	root := t.TempDir()
	work := t.TempDir()
	git(t, "", "init", "--quiet", "--bare", "--initial-branch=main", filepath.Join(root, "smp-gitops.git"))
	git(t, work, "init", "--quiet", "--initial-branch=main")
	git(t, work, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "--quiet", "--allow-empty", "-m", "first")
	git(t, work, "push", "--quiet", filepath.Join(root, "smp-gitops.git"), "main")
	head := git(t, work, "rev-parse", "HEAD")

	s, err := gitserve.Start(root, "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") {
		t.Fatalf("URL %s, want https on 127.0.0.1", s.URL)
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, s.CA, 0o600); err != nil {
		t.Fatal(err)
	}
	url := strings.Replace(s.URL, "https://", "https://x-access-token:s3cret@", 1) + "/smp-gitops.git"
	// GIT_SSL_CAINFO, not http.sslCAInfo: the variable wins over the
	// setting, and machines behind a proxy set it.
	t.Setenv("GIT_SSL_CAINFO", ca)
	if got := git(t, "", "ls-remote", url, "refs/heads/main"); !strings.HasPrefix(got, head) {
		t.Errorf("ls-remote with the token = %q, want %s", got, head)
	}

	bad := strings.Replace(s.URL, "https://", "https://x-access-token:wrong@", 1) + "/smp-gitops.git"
	cmd := exec.CommandContext(testctx.New(t), "git", "ls-remote", bad)
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "Authentication failed") {
		t.Errorf("ls-remote with a wrong token: %v\n%s\nwant an authentication failure", err, out)
	}
}

func git(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.CommandContext(testctx.New(t), "git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_TERMINAL_PROMPT=0", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}
