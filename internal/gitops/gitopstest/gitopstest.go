// Package gitopstest builds real GitOps remotes for tests: a bare
// repository seeded with files, a server-side hook that rejects the first
// N pushes, and a git smart-HTTP server over TLS that checks a token. No
// mocks: every push goes through git's own receive-pack.
package gitopstest

import (
	"encoding/base64"
	"net/http"
	"net/http/cgi" // #nosec G504 -- serves git http-backend in tests; httpoxy affected Go < 1.6.3 only
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
)

// NewRemote creates a bare repository whose main branch holds files (path
// → content) in one commit, and returns its path.
func NewRemote(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	bare := filepath.Join(root, "remote.git")
	work := filepath.Join(root, "seed")
	gitcmdtest.Git(t, root, "init", "--quiet", "--bare", "--initial-branch=main", bare)
	gitcmdtest.Git(t, root, "init", "--quiet", "--initial-branch=main", work)
	for p, c := range files {
		full := filepath.Join(work, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitcmdtest.Git(t, work, "add", "--all")
	gitcmdtest.Git(t, work, "commit", "--quiet", "-m", "gitops: init", "--allow-empty")
	gitcmdtest.Git(t, work, "push", "--quiet", bare, "HEAD:refs/heads/main")
	return bare
}

// RejectFirst installs a pre-receive hook in bare that declines the first
// n pushes ("server busy"), then accepts every push.
func RejectFirst(t testing.TB, bare string, n int) {
	t.Helper()
	hook := `#!/bin/sh
exec 9>"$GIT_DIR/reject.lock"
flock 9
f="$GIT_DIR/rejected"
n=$(cat "$f" 2>/dev/null || echo 0)
if [ "$n" -lt ` + strconv.Itoa(n) + ` ]; then
	echo $((n+1)) > "$f"
	echo "server busy, try again" >&2
	exit 1
fi
`
	if err := os.WriteFile(filepath.Join(bare, "hooks", "pre-receive"), []byte(hook), 0o755); err != nil {
		t.Fatal(err)
	}
}

// Rejected returns how many pushes the RejectFirst hook declined.
func Rejected(t testing.TB, bare string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(bare, "rejected"))
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	return n
}

// HTTPSRemote serves the bare repositories under root with git
// http-backend over TLS, accepting only the basic-auth password token.
// It returns the server and a PEM file of its certificate to trust.
func HTTPSRemote(t testing.TB, root, token string) (*httptest.Server, string) {
	t.Helper()
	gitPath, err := exec.LookPath("git")
	if err != nil {
		t.Fatal("git is not on PATH")
	}
	backend := &cgi.Handler{
		Path: gitPath,
		Args: []string{"http-backend"},
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=ci"},
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		want := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token))
		if r.Header.Get("Authorization") != want {
			w.Header().Set("WWW-Authenticate", `Basic realm="gitops"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	cert := srv.Certificate()
	pem := "-----BEGIN CERTIFICATE-----\n"
	enc := base64.StdEncoding.EncodeToString(cert.Raw)
	for len(enc) > 64 {
		pem += enc[:64] + "\n"
		enc = enc[64:]
	}
	pem += enc + "\n-----END CERTIFICATE-----\n"
	if err := os.WriteFile(ca, []byte(pem), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv, ca
}
