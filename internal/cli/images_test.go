package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/testkit/imagetest"
)

// run executes smpctl in-process with env and returns the exit code and output.
func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	a := &App{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
		Getenv: func(k string) string { return env[k] },
		Now:    func() time.Time { return imagetest.CommitTime.Add(40 * 24 * time.Hour) }}
	code := a.Run(context.Background(), args)
	return code, stdout.String(), stderr.String()
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// The whole image story through the CLI, against a real in-process
// registry: build and push, resolve, promote, sign, verify, policy, gc.
func TestImageCommandsEndToEnd(t *testing.T) {
	t.Parallel()
	host := imagetest.Registry(t)
	dir, commit := imagetest.ServiceRepo(t, "cli")
	repo := host + "/smp/health"
	short := commit[:7]

	code, out, errOut := run(t, nil, "build", "--dir", dir, "--image", repo, "--version", "3.3.0-rc.1", "--base", "builtin", "--push")
	if code != exitOK {
		t.Fatalf("build: exit %d\n%s", code, errOut)
	}
	ref := lastLine(out)
	if !regexp.MustCompile(`^` + regexp.QuoteMeta(repo+":sha-"+short) + `@sha256:[0-9a-f]{64}$`).MatchString(ref) {
		t.Fatalf("last line of build output = %q, want REPO:sha-%s@sha256:…", ref, short)
	}
	if !strings.Contains(errOut, "build: go build") || strings.Contains(out, "build: go build") {
		t.Errorf("progress must go to stderr only:\nstdout %s\nstderr %s", out, errOut)
	}
	digest := ref[strings.Index(ref, "@")+1:]

	code, out, _ = run(t, nil, "build", "--dir", dir, "--image", repo, "--version", "3.3.0-rc.1", "--base", "builtin", "-o", "json")
	var built struct{ Digest string }
	if code != exitOK || json.Unmarshal([]byte(out), &built) != nil || built.Digest != digest {
		t.Fatalf("rebuild without push: exit %d digest %q, want %s\n%s", code, built.Digest, digest, out)
	}

	code, out, _ = run(t, nil, "image", "resolve", "--image", repo, "--source-commit", commit)
	if code != exitOK || lastLine(out) != ref {
		t.Fatalf("resolve: exit %d %q, want %q", code, out, ref)
	}
	code, out, _ = run(t, nil, "image", "tag", "--image", repo+"@"+digest, "--tag", "3.3.0-rc.1")
	if code != exitOK || lastLine(out) != repo+":3.3.0-rc.1@"+digest {
		t.Fatalf("tag: exit %d %q", code, out)
	}
	code, _, errOut = run(t, nil, "image", "resolve", "--image", repo, "--source-commit", strings.Repeat("e", 40))
	if code != exitRefused || !strings.Contains(errOut, "no image for commit") {
		t.Errorf("resolve an unbuilt commit: exit %d %s", code, errOut)
	}

	keys := t.TempDir()
	env := map[string]string{"COSIGN_PASSWORD": "pw"}
	if code, _, errOut := run(t, env, "sign", "generate-key", "--output-dir", keys); code != exitOK {
		t.Fatalf("generate-key: %d %s", code, errOut)
	}
	pub, priv := filepath.Join(keys, "cosign.pub"), filepath.Join(keys, "cosign.key")
	if code, _, _ := run(t, env, "image", "verify", "--image", ref, "--key", pub); code != exitRefused {
		t.Errorf("verify an unsigned image: exit %d, want 1", code)
	}
	if code, _, errOut := run(t, map[string]string{"COSIGN_PASSWORD": "wrong"}, "sign", "--image", ref, "--key", priv); code != exitInvalid || !strings.Contains(errOut, "COSIGN_PASSWORD") {
		t.Errorf("sign with a wrong password: exit %d %s", code, errOut)
	}
	if code, _, errOut := run(t, env, "sign", "--image", ref, "--key", priv); code != exitOK {
		t.Fatalf("sign: exit %d %s", code, errOut)
	}
	code, out, errOut = run(t, env, "image", "verify", "--image", ref, "--key", pub)
	if code != exitOK || !strings.Contains(out, "signature: ok") || !strings.Contains(out, "sbom:      ok") {
		t.Fatalf("verify: exit %d\n%s%s", code, out, errOut)
	}
	prodRef := repo + ":3.3.0-rc.1@" + digest
	code, out, errOut = run(t, nil, "policy", "check", "--image", prodRef, "--env", "prod", "--key", pub, "--allow-registry", host+"/smp/")
	if code != exitOK {
		t.Errorf("policy check of a signed, pinned image: exit %d\n%s%s", code, out, errOut)
	}
	if err := os.WriteFile(filepath.Join(keys, "other.pub"), []byte(otherPublicKey(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ = run(t, nil, "policy", "check", "--image", prodRef, "--env", "prod", "--key", filepath.Join(keys, "other.pub"), "--allow-registry", host+"/smp/")
	if code != exitRefused || !strings.Contains(out, "[signature]") {
		t.Errorf("policy check with another key: exit %d\n%s", code, out)
	}

	// gc: the build is 40 days old (the clock), dev-only once nothing
	// references it… but it carries 3.3.0-rc.1, so it stays.
	gitops := t.TempDir()
	if err := os.MkdirAll(filepath.Join(gitops, "environments", "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, errOut = run(t, nil, "registry", "gc", "--image", repo, "--gitops", gitops, "--dev-max-age", "720h")
	if code != exitOK || !strings.Contains(out, "3.3.0-rc.1") || !strings.Contains(out, "deleted 0 digest") {
		t.Fatalf("gc: exit %d\n%s%s", code, out, errOut)
	}
	// A second commit, built and never promoted, is deleted (dry run first).
	imagetest.Commit(t, dir, "dev only")
	if code, _, errOut := run(t, nil, "build", "--dir", dir, "--image", repo, "--base", "builtin", "--push"); code != exitOK {
		t.Fatalf("second build: %s", errOut)
	}
	code, out, _ = run(t, nil, "registry", "gc", "--image", repo, "--gitops", gitops, "--dev-max-age", "720h", "--dry-run")
	if code != exitOK || !strings.Contains(out, "would delete") || !strings.Contains(out, "would delete 1 digest") {
		t.Fatalf("gc dry run:\n%s", out)
	}
	code, out, _ = run(t, nil, "registry", "gc", "--image", repo, "--gitops", gitops, "--dev-max-age", "720h")
	if code != exitOK || !strings.Contains(out, "deleted 1 digest") {
		t.Fatalf("gc:\n%s", out)
	}
	if code, _, _ := run(t, env, "image", "verify", "--image", ref, "--key", pub); code != exitOK {
		t.Error("gc broke the promoted, signed image")
	}
}

func otherPublicKey(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if code, _, errOut := run(t, map[string]string{"COSIGN_PASSWORD": "x"}, "sign", "generate-key", "--output-dir", dir); code != exitOK {
		t.Fatal(errOut)
	}
	b, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestImageBadInputExitCodes(t *testing.T) {
	t.Parallel()
	wd, _ := os.Getwd()
	notMain := filepath.Join(wd, "..", "image", "testdata", "notmain")
	cgo := filepath.Join(wd, "..", "image", "testdata", "cgoonly")
	tests := []struct {
		args []string
		code int
		want string
	}{
		{[]string{"build", "--dir", notMain, "--image", "ghcr.io/smp/x", "--commit", "abcdef1", "--version", "1", "--base", "builtin"}, exitInvalid, "not a main package"},
		{[]string{"build", "--dir", cgo, "--image", "ghcr.io/smp/x", "--commit", "abcdef1", "--version", "1", "--base", "builtin"}, exitInvalid, "needs cgo"},
		{[]string{"build", "--image", "ghcr.io/Smp/x"}, exitInvalid, "upper case"},
		{[]string{"build", "--image", "ghcr.io/smp/x", "--tag", "latest"}, exitInvalid, "latest"},
		{[]string{"image", "tag", "--image", "ghcr.io/smp/x:1.0.0", "--tag", "1.0.1"}, exitInvalid, "has no digest"},
		{[]string{"image", "resolve", "--image", "127.0.0.1:1/smp/x", "--source-commit", "abcdef1"}, exitRefused, "did not answer after"},
		{[]string{"policy", "check", "--image", "ghcr.io/smp/x:latest"}, exitRefused, "policy finding"},
		{[]string{"registry", "gc", "--image", "127.0.0.1:1/smp/x", "--gitops", wd}, exitInvalid, "no environments/"},
	}
	for _, tc := range tests {
		code, _, errOut := run(t, nil, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("smpctl %s: exit %d, stderr %q; want exit %d mentioning %q", strings.Join(tc.args, " "), code, errOut, tc.code, tc.want)
		}
	}
}
