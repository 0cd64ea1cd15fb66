package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/smp/delivery/internal/image"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/image/sbom"
	"github.com/smp/delivery/internal/local/freeport"
	"github.com/smp/delivery/internal/testkit/imagetest"
	"github.com/smp/delivery/internal/testkit/testctx"
)

func repo(t *testing.T, host, path string) name.Repository {
	t.Helper()
	r, err := imageref.Repository(host + "/" + path)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func build(t *testing.T, o image.BuildOptions) *image.Artifact {
	t.Helper()
	a, err := image.Build(context.Background(), o)
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Cleanup(a.Cleanup)
	return a
}

func push(t *testing.T, a *image.Artifact) *image.Pushed {
	t.Helper()
	p, err := image.Push(context.Background(), a, imageref.Access{})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	return p
}

func TestTwoBuildsOfTheSameCommitHaveTheSameDigest(t *testing.T) {
	t.Parallel()
	crane := imagetest.Tool(t, "crane")
	host := imagetest.Registry(t)
	dir, commit := imagetest.ServiceRepo(t, "reproducible")
	r := repo(t, host, "smp/health")
	first := push(t, build(t, image.BuildOptions{Dir: dir, Repo: r}))
	second := push(t, build(t, image.BuildOptions{Dir: dir, Repo: r}))
	if first.Digest != second.Digest {
		t.Fatalf("same commit, different digests: %s then %s", first.Digest, second.Digest)
	}
	wantTag := "sha-" + commit[:7]
	if first.Tag != wantTag || first.Reference != fmt.Sprintf("%s:%s@%s", r, wantTag, first.Digest) {
		t.Fatalf("tag %q reference %q, want tag %q", first.Tag, first.Reference, wantTag)
	}
	// crane, an independent client, sees the same digest under the tag.
	if got := strings.TrimSpace(imagetest.Run(t, crane, "digest", r.String()+":"+wantTag)); got != first.Digest {
		t.Fatalf("crane digest = %s, want %s", got, first.Digest)
	}
	// Another commit gives another digest: the digest depends on the source.
	commit2 := imagetest.Commit(t, dir, "a change")
	third := build(t, image.BuildOptions{Dir: dir, Repo: r})
	d3, _ := third.Digest()
	if d3.String() == first.Digest || third.Commit != commit2 {
		t.Fatalf("a new commit kept the digest %s (commit %s)", d3, third.Commit)
	}
}

func TestTheImageRunsAndReportsItsVersion(t *testing.T) {
	t.Parallel()
	crane := imagetest.Tool(t, "crane")
	host := imagetest.Registry(t)
	dir, commit := imagetest.ServiceRepo(t, "runs")
	r := repo(t, host, "smp/health")
	p := push(t, build(t, image.BuildOptions{Dir: dir, Repo: r, Version: "3.3.0-rc.1"}))

	// Pull with crane, extract /app/server from the flattened filesystem.
	fs := filepath.Join(t.TempDir(), "fs.tar")
	imagetest.Run(t, crane, "export", r.String()+"@"+p.Digest, fs)
	f, err := os.Open(fs)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	bin := filepath.Join(t.TempDir(), "server")
	files := map[string]*tar.Header{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		files[strings.TrimSuffix(strings.TrimPrefix(h.Name, "/"), "/")] = h
		if h.Name == "app/server" || h.Name == "/app/server" {
			out, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, tr); err != nil {
				t.Fatal(err)
			}
			out.Close()
		}
	}
	for _, want := range []string{"app/server", "etc/passwd", "etc/group", "etc/ssl/certs/ca-certificates.crt", "tmp", "home/nonroot"} {
		if files[want] == nil {
			t.Errorf("image has no %s", want)
		}
	}
	for name := range files {
		if strings.HasPrefix(name, "bin/") || strings.HasSuffix(name, "/sh") {
			t.Errorf("image has %s: the base must carry no shell", name)
		}
	}
	if h := files["app/server"]; h == nil || !h.ModTime.Equal(imagetest.CommitTime) {
		t.Errorf("app/server mtime is not the commit time: %+v", h)
	}

	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = []string{"PORT=" + port}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	var health struct{ Status, Version, Commit string }
	testctx.Eventually(t, 50*time.Millisecond, "the extracted server answers /health", func() error {
		resp, err := http.Get("http://127.0.0.1:" + port + "/health")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&health); err != nil {
			t.Fatal(err)
		}
		return nil
	})
	if health.Status != "ok" || health.Version != "3.3.0-rc.1" || health.Commit != commit {
		t.Fatalf("/health = %+v, want ok, 3.3.0-rc.1, %s", health, commit)
	}
}

// freePort is a port for the extracted server to bind (freeport: none an
// outgoing connection can take before it does).
func freePort(t *testing.T) string {
	t.Helper()
	port, err := freeport.Pick()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprint(port)
}

func TestConfigRunsAsNonRootWithTheEntrypointAndAnnotations(t *testing.T) {
	t.Parallel()
	crane := imagetest.Tool(t, "crane")
	host := imagetest.Registry(t)
	dir, commit := imagetest.ServiceRepo(t, "config")
	r := repo(t, host, "smp/health")
	p := push(t, build(t, image.BuildOptions{Dir: dir, Repo: r, Version: "1.2.3", Source: "https://github.com/smp/health", Tags: []string{"1.2.3-rc.1"}}))

	var cfg v1.ConfigFile
	if err := json.Unmarshal([]byte(imagetest.Run(t, crane, "config", r.String()+"@"+p.Digest)), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532:65532" || len(cfg.Config.Entrypoint) != 1 || cfg.Config.Entrypoint[0] != "/app/server" {
		t.Errorf("user %q entrypoint %q", cfg.Config.User, cfg.Config.Entrypoint)
	}
	if _, ok := cfg.Config.ExposedPorts["8080/tcp"]; !ok || cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("ports %v os %s arch %s", cfg.Config.ExposedPorts, cfg.OS, cfg.Architecture)
	}
	if !cfg.Created.Equal(imagetest.CommitTime) {
		t.Errorf("created %v, want the commit time %v", cfg.Created, imagetest.CommitTime)
	}
	var m v1.Manifest
	if err := json.Unmarshal([]byte(imagetest.Run(t, crane, "manifest", r.String()+"@"+p.Digest)), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		image.AnnotationRevision: commit, image.AnnotationVersion: "1.2.3",
		image.AnnotationSource: "https://github.com/smp/health", image.AnnotationCreated: "2026-11-20T09:30:00Z",
	}
	for k, v := range want {
		if m.Annotations[k] != v {
			t.Errorf("annotation %s = %q, want %q", k, m.Annotations[k], v)
		}
	}
	// No latest anywhere: only the sha- tag and the one asked for.
	tags := strings.Fields(imagetest.Run(t, crane, "ls", r.String()))
	if strings.Join(tags, " ") != "1.2.3-rc.1 sha-"+commit[:7] && strings.Join(tags, " ") != "sha-"+commit[:7]+" 1.2.3-rc.1" {
		t.Errorf("tags = %v, want exactly sha-%s and 1.2.3-rc.1", tags, commit[:7])
	}
	// The SBOM is a referrer of the image and describes the binary.
	d, _ := name.NewDigest(r.String()+"@"+p.Digest, name.Insecure)
	idx, err := remote.Referrers(d)
	if err != nil {
		t.Fatal(err)
	}
	im, _ := idx.IndexManifest()
	if len(im.Manifests) != 1 || im.Manifests[0].ArtifactType != sbom.MediaType || im.Manifests[0].Digest.String() != p.Platforms[0].SBOM {
		t.Fatalf("referrers = %+v, want one CycloneDX SBOM %s", im.Manifests, p.Platforms[0].SBOM)
	}
	img, err := remote.Image(r.Digest(p.Platforms[0].SBOM))
	if err != nil {
		t.Fatal(err)
	}
	layers, _ := img.Layers()
	rc, _ := layers[0].Uncompressed()
	doc, _ := io.ReadAll(rc)
	bom, err := sbom.Parse(doc)
	if err != nil {
		t.Fatal(err)
	}
	if bom.Metadata.Component.Name != "healthsvc" || bom.Metadata.Component.Version != "1.2.3" || sbom.BinarySHA256(bom) == "" {
		t.Errorf("SBOM component %+v", bom.Metadata.Component)
	}
}

func TestSeveralPlatformsMakeAnIndex(t *testing.T) {
	t.Parallel()
	crane := imagetest.Tool(t, "crane")
	host := imagetest.Registry(t)
	dir, _ := imagetest.ServiceRepo(t, "index")
	r := repo(t, host, "smp/health")
	plats, err := image.ParsePlatforms("linux/amd64,linux/arm64")
	if err != nil {
		t.Fatal(err)
	}
	p := push(t, build(t, image.BuildOptions{Dir: dir, Repo: r, Platforms: plats}))
	var idx v1.IndexManifest
	if err := json.Unmarshal([]byte(imagetest.Run(t, crane, "manifest", r.String()+"@"+p.Digest)), &idx); err != nil {
		t.Fatal(err)
	}
	if !idx.MediaType.IsIndex() || len(idx.Manifests) != 2 || idx.Manifests[1].Platform.Architecture != "arm64" {
		t.Fatalf("index %+v", idx)
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal([]byte(imagetest.Run(t, crane, "config", "--platform", "linux/arm64", r.String()+"@"+p.Digest)), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Architecture != "arm64" || cfg.Config.User != "65532:65532" {
		t.Fatalf("arm64 config %+v", cfg)
	}
}

func TestPromotionTagsTheSameDigest(t *testing.T) {
	t.Parallel()
	crane := imagetest.Tool(t, "crane")
	host := imagetest.Registry(t)
	dir, commit := imagetest.ServiceRepo(t, "promote")
	r := repo(t, host, "smp/health")
	p := push(t, build(t, image.BuildOptions{Dir: dir, Repo: r}))
	ctx := context.Background()

	res, err := image.Resolve(ctx, r, commit, imageref.Access{})
	if err != nil || res.Digest != p.Digest || res.Commit != commit {
		t.Fatalf("resolve = %+v, %v; want %s", res, err, p.Digest)
	}
	d, _ := imageref.Digest(r.String() + "@" + res.Digest)
	tagged, err := image.Tag(ctx, d, []string{"3.3.0-rc.1"}, imageref.Access{})
	if err != nil {
		t.Fatal(err)
	}
	if tagged.Digest != p.Digest {
		t.Fatalf("tagged %s, built %s", tagged.Digest, p.Digest)
	}
	for _, tag := range []string{"sha-" + commit[:7], "3.3.0-rc.1"} {
		if got := strings.TrimSpace(imagetest.Run(t, crane, "digest", r.String()+":"+tag)); got != p.Digest {
			t.Errorf("%s is %s, want %s", tag, got, p.Digest)
		}
	}
	// Tagging again is a no-op; moving a release tag is refused.
	if _, err := image.Tag(ctx, d, []string{"3.3.0-rc.1"}, imageref.Access{}); err != nil {
		t.Errorf("re-tagging the same digest: %v", err)
	}
	other := imagetest.Commit(t, dir, "other")
	p2 := push(t, build(t, image.BuildOptions{Dir: dir, Repo: r}))
	d2, _ := imageref.Digest(r.String() + "@" + p2.Digest)
	if _, err := image.Tag(ctx, d2, []string{"3.3.0-rc.1"}, imageref.Access{}); !errors.Is(err, image.ErrTagTaken) {
		t.Errorf("moving 3.3.0-rc.1 to %s (commit %s): err = %v, want ErrTagTaken", p2.Digest, other, err)
	}
	for _, bad := range []string{"latest", "main", "Latest"} {
		if _, err := image.Tag(ctx, d, []string{bad}, imageref.Access{}); !errors.Is(err, imageref.ErrInvalid) {
			t.Errorf("tag %q: err = %v, want ErrInvalid", bad, err)
		}
	}
	// A commit nobody built, and a tag that lies about its commit.
	if _, err := image.Resolve(ctx, r, "0123456789abcdef0123456789abcdef01234567", imageref.Access{}); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("resolve unknown commit: %v", err)
	}
	liar := strings.Repeat("f", 40)
	imagetest.Run(t, crane, "tag", r.String()+"@"+p.Digest, "sha-"+liar[:7])
	if _, err := image.Resolve(ctx, r, liar, imageref.Access{}); !errors.Is(err, image.ErrNotFound) || !strings.Contains(err.Error(), "revision annotation") {
		t.Errorf("resolve a hand-made tag: %v", err)
	}
	if d, _ := imageref.Digest(r.String() + "@sha256:" + strings.Repeat("0", 64)); true {
		if _, err := image.Tag(ctx, d, []string{"1.0.0"}, imageref.Access{}); !errors.Is(err, image.ErrNotFound) {
			t.Errorf("tag a digest that is not there: %v", err)
		}
	}
}

func TestBadInputIsRefusedBeforeAnythingIsPushed(t *testing.T) {
	t.Parallel()
	host := imagetest.Registry(t)
	r := repo(t, host, "smp/health")
	wd, _ := os.Getwd()
	dir, _ := imagetest.ServiceRepo(t, "bad")
	tests := []struct {
		name string
		opts image.BuildOptions
		want error
	}{
		{"a library package is not a service", image.BuildOptions{Dir: filepath.Join(wd, "testdata/notmain"), Commit: "abcdef1", Version: "1"}, image.ErrNotMain},
		{"a cgo-only package cannot be static", image.BuildOptions{Dir: filepath.Join(wd, "testdata/cgoonly"), Commit: "abcdef1", Version: "1"}, image.ErrCgoOnly},
		{"a missing directory", image.BuildOptions{Dir: filepath.Join(wd, "testdata/nope")}, image.ErrBadInput},
		{"a directory outside git without --commit", image.BuildOptions{Dir: copyOutsideGit(t, dir)}, image.ErrNoCommit},
		{"a commit that is not hex", image.BuildOptions{Dir: dir, Commit: "HEAD~1"}, image.ErrBadInput},
		{"the latest tag", image.BuildOptions{Dir: dir, Tags: []string{"latest"}}, imageref.ErrInvalid},
		{"a link out of the service's tree", image.BuildOptions{Dir: linkedOut(t, dir), Commit: "abcdef1", Version: "1"}, image.ErrLinkOutOfTree},
	}
	for _, tc := range tests {
		tc.opts.Repo = r
		_, err := image.Build(context.Background(), tc.opts)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
}

// linkedOut is a copy of the service at dir with a link to a file of the
// machine outside it, as a hostile commit could hold.
func linkedOut(t *testing.T, dir string) string {
	t.Helper()
	out := copyOutsideGit(t, dir)
	secret := filepath.Join(t.TempDir(), "token.go")
	if err := os.WriteFile(secret, []byte("package main\n\nconst token = \"x\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(out, "token.go")); err != nil {
		t.Fatal(err)
	}
	return out
}

func copyOutsideGit(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	for _, f := range []string{"go.mod", "main.go"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(out, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func TestAnUnreachableRegistryFailsAfterBoundedRetries(t *testing.T) {
	t.Parallel()
	dir, _ := imagetest.ServiceRepo(t, "unreachable")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there any more
	r := repo(t, addr, "smp/health")
	a := build(t, image.BuildOptions{Dir: dir, Repo: r})
	start := time.Now()
	_, err = image.Push(context.Background(), a, imageref.Access{Attempts: 2, Backoff: 10 * time.Millisecond})
	if !errors.Is(err, imageref.ErrUnreachable) || !strings.Contains(err.Error(), addr) {
		t.Fatalf("err = %v, want ErrUnreachable naming %s", err, addr)
	}
	if time.Since(start) > time.Minute {
		t.Errorf("the retries were not bounded: %v", time.Since(start))
	}
}

func TestNothingIsTaggedWhenTheManifestPushFails(t *testing.T) {
	t.Parallel()
	host := imagetest.Registry(t)
	// A proxy that lets blobs through and refuses manifests, as a registry
	// that dies mid-push would.
	proxy := failingManifests(t, host)
	dir, commit := imagetest.ServiceRepo(t, "halfway")
	r := repo(t, proxy, "smp/health")
	a := build(t, image.BuildOptions{Dir: dir, Repo: r})
	if _, err := image.Push(context.Background(), a, imageref.Access{Attempts: 1, Backoff: time.Millisecond}); err == nil {
		t.Fatal("push through a registry refusing manifests succeeded")
	}
	direct := repo(t, host, "smp/health")
	if _, err := remote.Head(direct.Tag("sha-" + commit[:7])); err == nil {
		t.Fatal("the tag exists although its manifest push failed")
	}
	var buf bytes.Buffer
	if tags, err := remote.List(direct); err == nil && len(tags) > 0 {
		fmt.Fprint(&buf, tags)
		t.Fatalf("tags after a failed push: %s", buf.String())
	}
}

func TestABasePinnedByDigestReplacesTheBuiltInBase(t *testing.T) {
	t.Parallel()
	crane := imagetest.Tool(t, "crane")
	host := imagetest.Registry(t)
	dir, _ := imagetest.ServiceRepo(t, "on-base")
	// The base: any image in the registry, here one smpctl built earlier.
	baseRepo := repo(t, host, "smp/base")
	base := push(t, build(t, image.BuildOptions{Dir: dir, Repo: baseRepo, Version: "base"}))
	baseRef, err := imageref.Digest(baseRepo.String() + "@" + base.Digest)
	if err != nil {
		t.Fatal(err)
	}
	r := repo(t, host, "smp/health")
	p := push(t, build(t, image.BuildOptions{Dir: dir, Repo: r, Version: "2.0.0", Base: baseRef}))
	var m v1.Manifest
	if err := json.Unmarshal([]byte(imagetest.Run(t, crane, "manifest", r.String()+"@"+p.Digest)), &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != 3 || m.Annotations["org.opencontainers.image.base.digest"] != base.Digest {
		t.Fatalf("layers %d, annotations %v: want the base's 2 layers + the app, and the base digest", len(m.Layers), m.Annotations)
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal([]byte(imagetest.Run(t, crane, "config", r.String()+"@"+p.Digest)), &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Config.User != "65532:65532" || cfg.Config.Labels[image.AnnotationVersion] != "2.0.0" {
		t.Errorf("config %+v", cfg.Config)
	}
	// A base that is not there fails with the registry's answer.
	missing, _ := imageref.Digest(baseRepo.String() + "@sha256:" + strings.Repeat("1", 64))
	if _, err := image.Build(context.Background(), image.BuildOptions{Dir: dir, Repo: r, Base: missing}); err == nil || !strings.Contains(err.Error(), "pull base") {
		t.Errorf("a missing base: %v", err)
	}
}
