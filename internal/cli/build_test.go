package cli

import (
	"encoding/json"
	"net"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/testkit/imagetest"
)

// How smpctl build picks its base, through the CLI and the environment a
// CI job would set, against a real in-process registry standing in for
// gcr.io (SMP_DEFAULT_BASE points the default there).
func TestBuildChoosesItsBase(t *testing.T) {
	t.Parallel()
	host := imagetest.Registry(t)
	dir, _ := imagetest.ServiceRepo(t, "cli-base")
	repo := host + "/smp/health"
	// The "distroless" of this test: an image pushed under a tag.
	if code, _, errOut := run(t, nil, "build", "--dir", dir, "--image", host+"/distroless/static", "--tag", "nonroot", "--version", "base", "--base", "builtin", "--push"); code != exitOK {
		t.Fatalf("push the base: exit %d\n%s", code, errOut)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := l.Addr().String()
	l.Close()

	// The default base answers: pulled, pinned, printed, in the JSON.
	code, out, errOut := run(t, map[string]string{"SMP_DEFAULT_BASE": host + "/distroless/static:nonroot"}, "build", "--dir", dir, "--image", repo, "-o", "json")
	var res struct{ Base, Digest string }
	if code != exitOK || json.Unmarshal([]byte(out), &res) != nil {
		t.Fatalf("build on the default base: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.HasPrefix(res.Base, host+"/distroless/static:nonroot@sha256:") || !strings.Contains(errOut, "build: base "+res.Base+" (default base, pinned by digest") {
		t.Fatalf("base %q, stderr:\n%s", res.Base, errOut)
	}
	// Its pin, given back as --base (SMP_BASE in CI), rebuilds the same digest.
	code, out, errOut = run(t, map[string]string{"SMP_BASE": res.Base}, "build", "--dir", dir, "--image", repo)
	if code != exitOK || lastLine(out) == "" || !strings.HasSuffix(lastLine(out), "@"+res.Digest) || !strings.Contains(out, "base: "+res.Base+"\n") {
		t.Fatalf("SMP_BASE=%s: exit %d, want digest %s\n%s\n%s", res.Base, code, res.Digest, out, errOut)
	}

	// Unreachable: the built-in base, one line on stderr saying so.
	code, out, errOut = run(t, nil, "build", "--dir", dir, "--image", repo, "--default-base", closed+"/distroless/static:nonroot")
	if code != exitOK || !strings.Contains(out, "base: builtin\n") {
		t.Fatalf("unreachable default base: exit %d\n%s\n%s", code, out, errOut)
	}
	if n := strings.Count(errOut, "build: base built-in: default base "+closed+"/distroless/static:nonroot is unreachable"); n != 1 {
		t.Errorf("stderr says %d times that the default base is unreachable, want once:\n%s", n, errOut)
	}

	// Reachable but refusing (no such tag): exit 1, no image.
	missing := host + "/distroless/static:nope"
	code, out, errOut = run(t, nil, "build", "--dir", dir, "--image", repo, "--default-base", missing)
	if code != exitRefused || out != "" || !strings.Contains(errOut, "does not fall back to the built-in base") || !strings.Contains(errOut, "--base builtin") {
		t.Fatalf("a default base the registry refuses: exit %d, want %d\n%s\n%s", code, exitRefused, out, errOut)
	}
	// --base builtin never asks: the refusing default does not matter.
	code, out, errOut = run(t, map[string]string{"SMP_DEFAULT_BASE": missing}, "build", "--dir", dir, "--image", repo, "--base", "builtin")
	if code != exitOK || !strings.Contains(out, "base: builtin\n") || strings.Contains(errOut, "unreachable") {
		t.Fatalf("--base builtin: exit %d\n%s\n%s", code, out, errOut)
	}

	// Bad base references are bad input.
	for _, args := range [][]string{
		{"--base", host + "/distroless/static:nonroot"},
		{"--default-base", host + "/distroless/static:latest"},
		{"--default-base", host + "/distroless/static"},
	} {
		code, _, errOut := run(t, nil, append([]string{"build", "--dir", dir, "--image", repo}, args...)...)
		if code != exitInvalid {
			t.Errorf("%v: exit %d, want %d\n%s", args, code, exitInvalid, errOut)
		}
	}
}
