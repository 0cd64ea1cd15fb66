package image

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// BenchmarkBuildVsGoBuild compares, in one run and warm caches, plain
// `go build` of a main package with smpctl's build of the same package
// (same flags; plus base, layers, config and SBOM), and ko v0.19.1 building
// it onto smpctl's built-in base pushed to a local registry.
//
// BENCH_PKG picks the package (default: smpctl itself, ../../cmd/smpctl).
// Run it with bench/images/run.sh.
func BenchmarkBuildVsGoBuild(b *testing.B) {
	pkg := os.Getenv("BENCH_PKG")
	if pkg == "" {
		pkg = "../../cmd/smpctl"
	}
	pkg, err := filepath.Abs(pkg)
	if err != nil {
		b.Fatal(err)
	}
	ko, err := exec.LookPath("ko")
	if err != nil {
		b.Fatalf("ko is not on PATH: scripts/tools.sh ko: %v", err)
	}
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	repo, _ := name.NewRepository(host+"/bench/app", name.Insecure)
	commit := "0123456789abcdef0123456789abcdef01234567"
	created := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	opts := BuildOptions{Dir: pkg, Repo: repo, Version: "1.0.0", Commit: commit, CommitTime: created}
	ldflags := fmt.Sprintf("-s -w -X main.version=1.0.0 -X main.commit=%s", commit)
	tmp := b.TempDir()

	goBuild := func() time.Duration {
		// A fresh output path, as in CI: go build skips the link when the
		// target is already up to date, which smpctl (a fresh work
		// directory per build) never benefits from.
		out := filepath.Join(b.TempDir(), "server")
		start := time.Now()
		cmd := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags, "-o", out, ".")
		cmd.Dir = pkg
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
		return time.Since(start)
	}
	var last *Artifact
	// smpctlBuild returns the build's time and the time of its own go
	// build (from its progress lines: "go build" starts it, the "base" line
	// follows it), so that the overhead is measured against the very
	// compile it wraps: on a busy machine two go builds of the same
	// package differ by more than the overhead.
	smpctlBuild := func() (time.Duration, time.Duration) {
		o := opts
		o.WorkDir = b.TempDir()
		st := &stamps{}
		o.Progress = st
		start := time.Now()
		a, err := Build(context.Background(), o)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Describe(a); err != nil {
			b.Fatal(err)
		}
		d := time.Since(start)
		last = a
		if st.goStart.IsZero() || st.goEnd.IsZero() {
			b.Fatal("smpctl build printed no go build or base line: the benchmark cannot time its compile")
		}
		return d, st.goEnd.Sub(st.goStart)
	}

	// The base ko builds on: smpctl's built-in base, pushed to the registry.
	base, err := baseLayer(DefaultCACerts, created)
	if err != nil {
		b.Fatal(err)
	}
	baseImg, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), base)
	if err != nil {
		b.Fatal(err)
	}
	baseImg, err = mutate.Config(baseImg, mutateConfig())
	if err != nil {
		b.Fatal(err)
	}
	baseRef := repo.Registry.Repo("bench", "base").Tag("nonroot")
	if err := remote.Write(baseRef, baseImg); err != nil {
		b.Fatal(err)
	}
	baseDigest, _ := baseImg.Digest()
	if err := os.WriteFile(filepath.Join(tmp, ".ko.yaml"), []byte("defaultPlatforms: [linux/amd64]\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	koBuild := func() (time.Duration, string) {
		start := time.Now()
		cmd := exec.Command(ko, "build", "--bare", "--tags", "sha-0123456", "--platform", "linux/amd64", ".")
		cmd.Dir = pkg
		cmd.Env = append(os.Environ(), "KO_DOCKER_REPO="+host+"/bench/ko", "KO_DEFAULTBASEIMAGE="+baseRef.Context().String()+"@"+baseDigest.String(),
			"KO_CONFIG_PATH="+tmp, "GOFLAGS=-trimpath -buildvcs=false", "KOCACHE="+filepath.Join(tmp, "kocache"))
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			b.Fatalf("ko build: %v\n%s", err, stderr.String())
		}
		return time.Since(start), strings.TrimSpace(stdout.String())
	}

	// Warm every cache once, untimed.
	goBuild()
	smpctlBuild()
	_, koFirst := koBuild()
	rssBefore := procStatus(b, "VmRSS")

	var goTotal, smpTotal, ownGoTotal, koTotal time.Duration
	koStable := 1.0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		goTotal += goBuild()
		d, own := smpctlBuild()
		smpTotal += d
		ownGoTotal += own
		d, ref := koBuild()
		koTotal += d
		if ref != koFirst {
			koStable = 0
		}
	}
	b.StopTimer()
	peak := procStatus(b, "VmHWM")
	n := float64(b.N)
	b.ReportMetric(float64(goTotal.Milliseconds())/n, "go-build-ms")
	b.ReportMetric(float64(smpTotal.Milliseconds())/n, "smpctl-build-ms")
	b.ReportMetric(float64(smpTotal)/float64(goTotal), "smpctl/go-ratio")
	b.ReportMetric(float64((smpTotal-ownGoTotal).Milliseconds())/n, "smpctl-overhead-ms")
	b.ReportMetric(float64(smpTotal)/float64(ownGoTotal), "smpctl/own-go-build-ratio")
	b.ReportMetric(float64(koTotal.Milliseconds())/n, "ko-build+push-ms")
	b.ReportMetric(koStable, "ko-digest-stable")
	pi := last.Platforms[0]
	size, _ := imageSize(pi.Image)
	raw := uncompressedSize(b, last)
	b.ReportMetric(float64(pi.BinarySize)/(1<<20), "binary-MiB")
	b.ReportMetric(float64(size)/(1<<20), "image-gz-MiB")
	b.ReportMetric(float64(raw-pi.BinarySize)/(1<<10), "image-raw-minus-binary-KiB")
	b.ReportMetric(float64(peak-rssBefore)/(1<<10), "smpctl-peak-rss-over-start-MiB")
	last.Cleanup()
}

// stamps notes when smpctl's go build started and ended, from its progress.
type stamps struct{ goStart, goEnd time.Time }

func (s *stamps) Write(p []byte) (int, error) {
	switch {
	case bytes.HasPrefix(p, []byte("build: go build ")):
		s.goStart = time.Now()
	case bytes.HasPrefix(p, []byte("build: base ")):
		s.goEnd = time.Now()
	}
	return len(p), nil
}

func mutateConfig() v1.Config {
	return v1.Config{User: User}
}

// uncompressedSize sums the uncompressed layers of the last build.
func uncompressedSize(b *testing.B, a *Artifact) int64 {
	layers, err := a.Platforms[0].Image.Layers()
	if err != nil {
		b.Fatal(err)
	}
	var n int64
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			b.Fatal(err)
		}
		m, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil {
			b.Fatal(err)
		}
		n += m
	}
	return n
}

// procStatus reads a kB field of /proc/self/status: VmHWM is this
// process's peak resident set; the go compiler and linker are child
// processes and are not counted in it.
func procStatus(b *testing.B, field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && k == field {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb
		}
	}
	b.Fatalf("no %s in /proc/self/status", field)
	return 0
}
