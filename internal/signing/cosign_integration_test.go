//go:build integration

package signing_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/imageref"
	"github.com/smp/delivery/internal/imagetest"
	"github.com/smp/delivery/internal/signing"
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

// The cosign CLI and smpctl read each other's keys and signatures (cosign's
// legacy .sig format; cosign v3 writes a new bundle format by default,
// which smpctl does not read: --new-bundle-format=false).
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
