package engines

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestDefaultBinDirIsWhereKubeBinsBuilds(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("SMP_KUBE_BINS", "")
	out, err := exec.Command("bash", "../../../scripts/kube-bins.sh", "--dir").Output()
	if err != nil {
		t.Fatalf("scripts/kube-bins.sh --dir: %v", err)
	}
	want, err := DefaultBinDir()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(string(out)); got != want {
		t.Errorf("scripts/kube-bins.sh builds into %s, the package looks in %s: update CacheName with the script's versions", got, want)
	}
}

func TestMissingBinariesNameTheCommandThatBuildsThem(t *testing.T) {
	t.Parallel()
	_, err := Start(t.Context(), t.TempDir(), WithBinDir(t.TempDir()), WithRollouts())
	if !errors.Is(err, ErrMissingBinaries) || !strings.Contains(err.Error(), "run scripts/kube-bins.sh") {
		t.Fatalf("Start with an empty binary directory = %v, want ErrMissingBinaries saying to run scripts/kube-bins.sh", err)
	}
}

func TestCredentialsServeLoopbackAndMakeTheClientAClusterAdmin(t *testing.T) {
	t.Parallel()
	p, err := newPKI(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.caPEM)
	serving := readCert(t, p.ServingCert)
	if _, err := serving.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"}); err != nil {
		t.Errorf("serving certificate for 127.0.0.1: %v", err)
	}
	admin := readCert(t, p.AdminCert)
	if _, err := admin.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin client certificate: %v", err)
	}
	if got := admin.Subject.Organization; len(got) != 1 || got[0] != "system:masters" {
		t.Errorf("admin certificate organization = %v, want [system:masters]", got)
	}
}

func readCert(t *testing.T, file string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", file)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
