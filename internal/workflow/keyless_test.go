package workflow

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeylessSigningSignsTheSBOMsThenTheImage runs the build job's signing
// step (signing: keyless) with stand-ins for smpctl and cosign: every SBOM
// referrer that smpctl build printed is signed by digest, then the image by
// digest, then the scan runs; a build output that names no SBOM fails the
// step before anything is signed.
func TestKeylessSigningSignsTheSBOMsThenTheImage(t *testing.T) {
	t.Parallel()
	sbomA, sbomB := "sha256:"+strings.Repeat("b", 64), "sha256:"+strings.Repeat("c", 64)
	main := cdScope("refs/heads/main", map[string]any{"plan": outputs("build", "true", "environment", "dev")})
	main.Contexts["steps"] = map[string]any{"build": map[string]any{"outputs": map[string]any{"image": "ghcr.io/smp/order-svc:sha-0123456@" + digestA}}}

	for _, tc := range []struct {
		name  string
		build string
		want  []string
	}{
		{"two platforms", "linux/amd64    " + digestA + "  binary 11.2 MiB  image 5.1 MiB  sbom " + sbomA + "\n" +
			"linux/arm64    " + digestA + "  binary 11.0 MiB  image 5.0 MiB  sbom " + sbomB + "\nghcr.io/smp/order-svc:sha-0123456@" + digestA + "\n",
			[]string{
				"cosign sign --yes ghcr.io/smp/order-svc@" + sbomA,
				"cosign sign --yes ghcr.io/smp/order-svc@" + sbomB,
				"cosign sign --yes ghcr.io/smp/order-svc@" + digestA,
				"smpctl scan --dir .",
			}},
		{"no SBOM printed", "ghcr.io/smp/order-svc:sha-0123456@" + digestA + "\n", nil},
	} {
		bin, logFile := standIn(t)
		// cosign's stand-in: the smpctl one, prefixed so the calls read in order.
		cosign := "#!/usr/bin/env bash\necho \"cosign $*\" >>\"$STANDIN_LOG\"\n"
		smpctl, _ := os.ReadFile(filepath.Join(bin, "smpctl"))
		smpctl = []byte(strings.Replace(string(smpctl), `echo "$*"`, `echo "smpctl $*"`, 1))
		for name, body := range map[string][]byte{"cosign": []byte(cosign), "smpctl": smpctl} {
			if err := os.WriteFile(filepath.Join(bin, name), body, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		tmp := t.TempDir()
		if err := os.WriteFile(filepath.Join(tmp, "build.txt"), []byte(tc.build), 0o600); err != nil {
			t.Fatal(err)
		}
		r := runStep(t, "build", "SBOM, signature and scan", main,
			"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"), "RUNNER_TEMP="+tmp, "STANDIN_LOG="+logFile)
		raw, _ := os.ReadFile(logFile)
		var calls []string
		if s := strings.TrimSpace(string(raw)); s != "" {
			calls = strings.Split(s, "\n")
		}
		if tc.want == nil {
			if r.err == nil || len(calls) != 0 {
				t.Errorf("%s: err %v, called %v; want a failure before any call", tc.name, r.err, calls)
			}
			continue
		}
		if r.err != nil || strings.Join(calls, "\n") != strings.Join(tc.want, "\n") {
			t.Errorf("%s: err %v, called\n%s\nwant\n%s\n%s", tc.name, r.err, strings.Join(calls, "\n"), strings.Join(tc.want, "\n"), r.stderr)
		}
	}
}
