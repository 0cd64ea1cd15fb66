//go:build integration

package signing_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/image/signing"
	"github.com/smp/delivery/internal/testkit/imagetest"
)

// cosign runs the cosign CLI (v3.1.3, scripts/tools.sh cosign) offline:
// no transparency log, no signing config, plain http to the local registry.
func cosign(t *testing.T, dir, password string, args ...string) (string, error) {
	t.Helper()
	bin := imagetest.Tool(t, "cosign")
	cmd := exec.CommandContext(context.Background(), bin, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "COSIGN_PASSWORD="+password, "HOME="+dir, "SIGSTORE_NO_CACHE=true")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The cosign CLI and smpctl read each other's keys and signatures in
// cosign's legacy .sig format (the one smpctl sign writes; cosign writes it
// with --new-bundle-format=false). Its default bundle format: below.
func TestCosignAndSmpctlUnderstandEachOther(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	host := imagetest.Registry(t)
	p := pushed(t, host, "cosign")
	ref := p.Repo + "@" + p.Digest
	dir := t.TempDir()

	// smpctl's keys and signature, checked by cosign verify.
	priv, pub := keys(t)
	if err := os.WriteFile(filepath.Join(dir, "smp.pub"), pub, 0o644); err != nil {
		t.Fatal(err)
	}
	signer, err := signing.LoadSigner(priv, []byte("s3cret"))
	if err != nil {
		t.Fatal(err)
	}
	r, _ := imageref.Reference(ref)
	if _, err := signing.Sign(ctx, r, signer, imageref.Access{}); err != nil {
		t.Fatal(err)
	}
	if out, err := cosign(t, dir, "", "verify", "--key", "smp.pub", "--insecure-ignore-tlog=true", "--allow-http-registry", ref); err != nil {
		t.Fatalf("cosign verify of an smpctl signature: %v\n%s", err, out)
	}

	// cosign's keys and signatures (image and SBOM), checked by smpctl.
	if out, err := cosign(t, dir, "pw", "generate-key-pair"); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	q := pushed(t, host, "cosign-signed")
	for _, d := range []string{q.Digest, q.Platforms[0].SBOM} {
		if out, err := cosign(t, dir, "pw", "sign", "--yes", "--key", "cosign.key", "--tlog-upload=false", "--use-signing-config=false",
			"--new-bundle-format=false", "--allow-http-registry", q.Repo+"@"+d); err != nil {
			t.Fatalf("cosign sign %s: %v\n%s", d, err, out)
		}
	}
	cosignPub, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := signing.LoadVerifier(cosignPub)
	if err != nil {
		t.Fatal(err)
	}
	qr, _ := imageref.Reference(q.Repo + "@" + q.Digest)
	if _, err := signing.Verify(ctx, qr, v, imageref.Access{}); err != nil {
		t.Fatalf("smpctl verify of a cosign signature: %v", err)
	}
	cosignPriv, err := os.ReadFile(filepath.Join(dir, "cosign.key"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signing.LoadSigner(cosignPriv, []byte("pw")); err != nil {
		t.Fatalf("smpctl reading a cosign private key: %v", err)
	}
	// And a wrong key fails in cosign too.
	if out, err := cosign(t, dir, "", "verify", "--key", "smp.pub", "--insecure-ignore-tlog=true", "--allow-http-registry", q.Repo+"@"+q.Digest); err == nil || !strings.Contains(out, "verif") {
		t.Fatalf("cosign verify with the wrong key passed:\n%s", out)
	}
}

// cosign v3's default format with a key pair, offline (no Rekor upload, no
// signing config): `cosign sign` and `cosign attest --type cyclonedx` write
// sigstore bundles as OCI referrers; smpctl verifies both with the public
// key, and refuses them with another key.
func TestSmpctlVerifiesCosignBundles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	host := imagetest.Registry(t)
	p := pushed(t, host, "cosign-bundle")
	ref := p.Repo + "@" + p.Digest
	dir := t.TempDir()
	if out, err := cosign(t, dir, "pw", "generate-key-pair"); err != nil {
		t.Fatalf("cosign generate-key-pair: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "sbom.json"), sbomDoc(t, p), 0o600); err != nil {
		t.Fatal(err)
	}
	offline := []string{"--yes", "--key", "cosign.key", "--tlog-upload=false", "--use-signing-config=false", "--allow-http-registry"}
	if out, err := cosign(t, dir, "pw", append(append([]string{"sign"}, offline...), ref)...); err != nil {
		t.Fatalf("cosign sign (bundle format): %v\n%s", err, out)
	}
	pub, err := os.ReadFile(filepath.Join(dir, "cosign.pub"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := signing.LoadVerifier(pub)
	if err != nil {
		t.Fatal(err)
	}
	// The bundle format, not the .sig tag.
	if _, err := remote.Head(signing.SignatureTag(mustDigest(t, ref).Context(), mustHash(t, p.Digest))); err == nil {
		t.Fatal("cosign wrote the legacy .sig tag; this test is about its bundle format")
	}
	r, _ := imageref.Reference(ref)
	// Signed image, SBOM neither signed nor attested yet: not enough.
	if _, err := signing.Verify(ctx, r, v, imageref.Access{}); !errors.Is(err, signing.ErrNoSBOM) {
		t.Fatalf("smpctl verify of a cosign bundle signature without SBOM attestation: %v, want ErrNoSBOM", err)
	}
	if out, err := cosign(t, dir, "pw", append(append([]string{"attest", "--type", "cyclonedx", "--predicate", "sbom.json"}, offline...), p.Repo+"@"+p.Platforms[0].Digest)...); err != nil {
		t.Fatalf("cosign attest (bundle format): %v\n%s", err, out)
	}
	got, err := signing.Verify(ctx, r, v, imageref.Access{})
	if err != nil {
		t.Fatalf("smpctl verify of cosign's bundles: %v", err)
	}
	if got.Signer != "key" || got.Platforms[0].Kind != "CycloneDX attestation" || got.Platforms[0].Component != "healthsvc" {
		t.Errorf("verified %+v", got)
	}
	_, otherPub := keys(t)
	other, _ := signing.LoadVerifier(otherPub)
	if _, err := signing.Verify(ctx, r, other, imageref.Access{}); !errors.Is(err, signing.ErrBadSignature) {
		t.Errorf("smpctl verify of cosign's bundles with another key: %v, want ErrBadSignature", err)
	}
}

func mustDigest(t *testing.T, s string) name.Digest {
	t.Helper()
	d, err := imageref.Digest(s)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
