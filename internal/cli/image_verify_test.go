package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/smp/delivery/internal/image/signing"
	"github.com/smp/delivery/internal/image/signing/sigstoretest"
	"github.com/smp/delivery/internal/testkit/imagetest"
)

// builtImage builds and pushes the test service with smpctl build.
func builtImage(t *testing.T, host, marker string) (image name.Digest, sbom name.Digest) {
	t.Helper()
	dir, _ := imagetest.ServiceRepo(t, marker)
	repo := host + "/smp/health"
	code, out, errOut := run(t, nil, "build", "--dir", dir, "--image", repo, "--base", "builtin", "--push", "-o", "json")
	if code != exitOK {
		t.Fatalf("build: exit %d\n%s", code, errOut)
	}
	var built struct {
		Digest    string
		Platforms []struct{ Digest, SBOM string }
	}
	if err := json.Unmarshal([]byte(out), &built); err != nil || len(built.Platforms) != 1 {
		t.Fatalf("build -o json: %v\n%s", err, out)
	}
	image, err := name.NewDigest(repo+"@"+built.Digest, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	sbom, err = name.NewDigest(repo+"@"+built.Platforms[0].SBOM, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	return image, sbom
}

// Keyless verification through the CLI, with signatures from a virtual
// sigstore instance (Fulcio, Rekor, TSA in process): what the CD workflow
// signs with cosign (the image and its SBOM referrer) passes for the right
// identity; everything else exits 1 and says why.
func TestImageVerifyKeyless(t *testing.T) {
	t.Parallel()
	host := imagetest.Registry(t)
	vs := sigstoretest.New(t)
	img, sbom := builtImage(t, host, "cli-keyless")
	vs.Sign(t, img, sigstoretest.Identity, sigstoretest.Issuer)
	vs.Sign(t, sbom, sigstoretest.Identity, sigstoretest.Issuer)
	unsignedSBOM, _ := builtImage(t, host, "cli-keyless-no-sbom")
	vs.Sign(t, unsignedSBOM, sigstoretest.Identity, sigstoretest.Issuer)
	// A signature of img copied onto another image: it names img's digest.
	replayed, _ := builtImage(t, host, "cli-keyless-replayed")
	sigstoretest.Attach(t, replayed, vs.Bundle(t, sigstoretest.Identity, sigstoretest.Issuer,
		sigstoretest.Statement(t, img, signing.SignPredicateType, nil)), signing.SignPredicateType)
	trusted := vs.TrustedRootFile(t, false)
	untrusted := sigstoretest.New(t).TrustedRootFile(t, false)

	keyless := func(ref, identity, issuer, trustedRoot string) []string {
		return []string{"image", "verify", "--image", ref, "--certificate-identity", identity, "--certificate-oidc-issuer", issuer, "--trusted-root", trustedRoot}
	}
	code, out, errOut := run(t, nil, keyless(img.String(), sigstoretest.Identity, sigstoretest.Issuer, trusted)...)
	if code != exitOK {
		t.Fatalf("verify a keyless-signed image: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(out, "signature: ok  "+img.String()+" (keyless "+sigstoretest.Identity) ||
		!strings.Contains(out, "sbom:      ok  "+sbom.String()+" (signed SBOM referrer: healthsvc") {
		t.Errorf("verify output:\n%s", out)
	}

	// Pinned to the repository and branch the signing workflow ran for.
	source := func(args []string, repo string) []string {
		return append(args, "--certificate-source-repository", repo, "--certificate-source-ref", sigstoretest.SourceRef)
	}
	if code, _, errOut := run(t, nil, source(keyless(img.String(), sigstoretest.Identity, sigstoretest.Issuer, trusted), sigstoretest.SourceRepository)...); code != exitOK {
		t.Errorf("verify with the source repository and ref: exit %d\n%s", code, errOut)
	}

	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	home := t.TempDir()
	fails := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"another identity", keyless(img.String(), "https://github.com/smp/delivery/.github/workflows/cd.yml@refs/heads/feature", sigstoretest.Issuer, trusted), nil, "expected SAN value"},
		{"another issuer", keyless(img.String(), sigstoretest.Identity, "https://accounts.google.com", trusted), nil, `expected issuer value "https://accounts.google.com"`},
		{"another source repository", source(keyless(img.String(), sigstoretest.Identity, sigstoretest.Issuer, trusted), "https://github.com/smp/payment-svc"), nil,
			`expected SourceRepositoryURI to be "https://github.com/smp/payment-svc"`},
		{"an untrusted root", keyless(img.String(), sigstoretest.Identity, sigstoretest.Issuer, untrusted), nil, "failed to verify log inclusion"},
		{"a signature of another digest", keyless(replayed.String(), sigstoretest.Identity, sigstoretest.Issuer, trusted), nil, "artifact digest does not match"},
		{"an image whose SBOM is not signed", keyless(unsignedSBOM.String(), sigstoretest.Identity, sigstoretest.Issuer, trusted), nil, "no signed SBOM"},
		{"no trusted root and a TUF mirror that is down", []string{"image", "verify", "--image", img.String(), "--certificate-identity", sigstoretest.Identity,
			"--certificate-oidc-issuer", sigstoretest.Issuer, "--tuf-mirror", down.URL}, map[string]string{"HOME": home}, "pass --trusted-root"},
	}
	for _, tc := range fails {
		code, out, errOut := run(t, tc.env, tc.args...)
		if code != exitRefused || !strings.Contains(errOut, tc.want) || out != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 1 mentioning %q", tc.name, code, out, errOut, tc.want)
		}
	}
	if _, err := os.Stat(filepath.Join(home, ".sigstore", "root")); err != nil {
		t.Errorf("the TUF cache goes under $HOME/.sigstore/root as with cosign: %v", err)
	}
}

func TestImageVerifyFlagsExitTwo(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	garbage := filepath.Join(dir, "trusted_root.json")
	if err := os.WriteFile(garbage, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	ref := "127.0.0.1:1/smp/x@sha256:" + strings.Repeat("0", 64)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--key", "cosign.pub", "--certificate-identity", "x", "--certificate-oidc-issuer", "y"}, "exclude each other"},
		{nil, "say whose signature to accept"},
		{[]string{"--certificate-identity", sigstoretest.Identity}, "--certificate-oidc-issuer: unusable verification policy: the certificate OIDC issuer is required"},
		{[]string{"--certificate-oidc-issuer", sigstoretest.Issuer}, "exactly one of the certificate identity and the certificate identity regexp"},
		{[]string{"--certificate-identity-regexp", "(", "--certificate-oidc-issuer", sigstoretest.Issuer}, "--certificate-identity-regexp"},
		{[]string{"--certificate-identity", "x", "--certificate-oidc-issuer", "y", "--trusted-root", garbage}, "is not a sigstore trusted root"},
		{[]string{"--certificate-identity", "x", "--certificate-oidc-issuer", "y", "--trusted-root", filepath.Join(dir, "missing.json")}, "--trusted-root: unusable verification policy: read trusted root"},
	}
	for _, tc := range tests {
		args := append([]string{"image", "verify", "--image", ref}, tc.args...)
		code, _, errOut := run(t, nil, args...)
		if code != exitInvalid || !strings.Contains(errOut, tc.want) {
			t.Errorf("smpctl %s: exit %d, stderr %q; want exit 2 mentioning %q", strings.Join(args, " "), code, errOut, tc.want)
		}
	}
}

// policy check --env prod takes the same signers as image verify: an image
// signed keylessly (as CD signs) passes, an unsigned one is a finding
// (exit 1), and no signer at all is a usage error (exit 2).
func TestPolicyCheckProdKeyless(t *testing.T) {
	t.Parallel()
	host := imagetest.Registry(t)
	vs := sigstoretest.New(t)
	img, sbom := builtImage(t, host, "cli-policy-keyless")
	vs.Sign(t, img, sigstoretest.Identity, sigstoretest.Issuer)
	vs.Sign(t, sbom, sigstoretest.Identity, sigstoretest.Issuer)
	unsigned, _ := builtImage(t, host, "cli-policy-unsigned")
	trusted := vs.TrustedRootFile(t, false)
	check := func(ref string, signer ...string) (int, string, string) {
		args := append([]string{"policy", "check", "--image", ref, "--allow-registry", host + "/", "--env", "prod"}, signer...)
		return run(t, nil, args...)
	}
	keyless := []string{"--certificate-identity", sigstoretest.Identity, "--certificate-oidc-issuer", sigstoretest.Issuer, "--trusted-root", trusted}

	if code, out, errOut := check(img.String(), keyless...); code != exitOK {
		t.Fatalf("policy check of a keyless-signed image: exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut := check(unsigned.String(), keyless...)
	if code != exitRefused || !strings.Contains(out, "signature") || !strings.Contains(out, "sign it in CD") {
		t.Fatalf("policy check of an unsigned image: exit %d, want 1 with a signature finding\n%s%s", code, out, errOut)
	}
	code, _, errOut = check(img.String(), "--certificate-identity", "https://github.com/someone/else/.github/workflows/x.yml@refs/heads/main",
		"--certificate-oidc-issuer", sigstoretest.Issuer, "--trusted-root", trusted)
	if code != exitRefused {
		t.Fatalf("policy check with another identity: exit %d, want 1\n%s", code, errOut)
	}
	code, _, errOut = check(img.String())
	if code != exitInvalid || !strings.Contains(errOut, "--certificate-identity") {
		t.Fatalf("policy check --env prod with no signer: exit %d, want 2 naming the flags\n%s", code, errOut)
	}
}
