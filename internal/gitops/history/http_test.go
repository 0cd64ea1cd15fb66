package history

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/fault"
)

// TestOpenOverHTTPSendsTheTokenAndReportsARefusal serves a real bare
// repository through git http-backend (CGI) behind a token check: without
// the token the remote refuses (fault.ErrRefused, exit 1), with it the
// clone works, and the token never shows in an error.
func TestOpenOverHTTPSendsTheTokenAndReportsARefusal(t *testing.T) {
	t.Parallel()
	f := story(t)
	root := t.TempDir()
	runGit(t, f.dir, t0, "clone", "--quiet", "--bare", f.dir, filepath.Join(root, "gitops.git"))
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	const token = "tok-s3cret"
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+token))
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		Env:  []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1"},
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != want {
			w.Header().Set("WWW-Authenticate", `Basic realm="smp-gitops"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		backend.ServeHTTP(w, r)
	}))
	defer srv.Close()
	url := srv.URL + "/gitops.git"
	ctx := context.Background()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(ca, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}

	_, err = Open(ctx, url, OpenOptions{CacheDir: t.TempDir(), FetchTimeout: time.Minute, CAFile: ca})
	if !errors.Is(err, fault.ErrRefused) {
		t.Fatalf("no token: %v, want fault.ErrRefused", err)
	}
	_, err = Open(ctx, url, OpenOptions{CacheDir: t.TempDir(), FetchTimeout: time.Minute, Token: "wrong-token", CAFile: ca})
	if !errors.Is(err, fault.ErrRefused) {
		t.Fatalf("wrong token: %v, want fault.ErrRefused", err)
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Errorf("the token leaked into the error: %v", err)
	}
	r, err := Open(ctx, url, OpenOptions{CacheDir: t.TempDir(), FetchTimeout: time.Minute, Token: token, CAFile: ca})
	if err != nil {
		t.Fatalf("with the token: %v", err)
	}
	st, err := r.Status(ctx)
	if err != nil || len(st.Services) != 2 {
		t.Fatalf("status over http: %v, %v", st, err)
	}
}
