package gc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/image"
	"github.com/smp/delivery/internal/image/gc"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/testkit/imagetest"
)

// pushImage pushes a small image built at created under tags and returns its digest.
func pushImage(t *testing.T, repo name.Repository, created time.Time, tags ...string) v1.Image {
	t.Helper()
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.Annotations(img, map[string]string{"org.opencontainers.image.created": created.Format(time.RFC3339)}).(v1.Image)
	for _, tag := range tags {
		if err := remote.Write(repo.Tag(tag), img); err != nil {
			t.Fatal(err)
		}
	}
	return img
}

func digestOf(t *testing.T, img v1.Image) string {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d.String()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func envFile(repo, tag, digest string) string {
	return fmt.Sprintf("# order-svc\nimage:\n  repository: %s\n  tag: %s\n  digest: %s\nreplicaCount: 2\n", repo, tag, digest)
}

func TestGCAgainstARealRegistryKeepsWhatItMust(t *testing.T) {
	t.Parallel()
	crane := imagetest.Tool(t, "crane")
	host := imagetest.Registry(t)
	repo, err := imageref.Repository(host + "/smp/order-svc")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	old := now.Add(-45 * 24 * time.Hour)
	young := now.Add(-3 * 24 * time.Hour)

	oldDev := pushImage(t, repo, old, "sha-1111111")
	oldDevInDev := pushImage(t, repo, old, "sha-2222222")
	oldRC := pushImage(t, repo, old, "sha-3333333", "3.3.0-rc.1")
	oldRelease := pushImage(t, repo, old, "sha-4444444", "3.2.5")
	youngDev := pushImage(t, repo, young, "sha-5555555")
	oldHeld := pushImage(t, repo, old, "sha-6666666")

	// oldDev is signed and has an SBOM referrer: both must go with it.
	sig := pushImage(t, repo, old, "sha256-"+strings.TrimPrefix(digestOf(t, oldDev), "sha256:")+".sig")
	sb, err := image.SBOMArtifact([]byte(`{"bomFormat":"CycloneDX"}`), oldDev, old)
	if err != nil {
		t.Fatal(err)
	}
	sbd := digestOf(t, sb)
	if err := remote.Write(repo.Digest(sbd), sb); err != nil {
		t.Fatal(err)
	}

	gitops := t.TempDir()
	writeFile(t, filepath.Join(gitops, "environments/dev/order-svc.yaml"), envFile(repo.String(), "sha-2222222", digestOf(t, oldDevInDev)))
	writeFile(t, filepath.Join(gitops, "environments/prod/order-svc.yaml"), envFile(repo.String(), "3.2.5", digestOf(t, oldRelease)))
	writeFile(t, filepath.Join(gitops, "environments/prod/other-svc.yaml"), envFile("ghcr.io/smp/other-svc", "sha-1111111", digestOf(t, oldDev)))
	writeFile(t, filepath.Join(gitops, "state/holds/prod/order-svc.yaml"), "since: 2026-11-01T00:00:00Z\nby: ops\nreason: incident\ndigest: "+digestOf(t, oldHeld)+"\n")
	refs, err := gc.ReadReferences(gitops, repo.String())
	if err != nil {
		t.Fatal(err)
	}
	backend := &gc.OCI{Repo: repo}
	policy := gc.Policy{MaxAge: 720 * time.Hour, Now: now}

	// A dry run deletes nothing.
	dry, err := gc.Run(ctx, backend, refs, policy, true)
	if err != nil {
		t.Fatal(err)
	}
	if dry.Deleted != 0 || countDeletes(dry) != 1 {
		t.Fatalf("dry run: %+v", dry)
	}
	if _, err := remote.Head(repo.Digest(digestOf(t, oldDev))); err != nil {
		t.Fatalf("the dry run deleted %s: %v", digestOf(t, oldDev), err)
	}

	res, err := gc.Run(ctx, backend, refs, policy, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Deleted != 1 {
		t.Fatalf("deleted %d, want 1: %+v", res.Deleted, res.Decisions)
	}
	gone := []string{digestOf(t, oldDev), digestOf(t, sig), sbd}
	for _, d := range gone {
		if _, err := remote.Head(repo.Digest(d)); err == nil {
			t.Errorf("%s is still there", d)
		}
	}
	for _, img := range []v1.Image{oldDevInDev, oldRC, oldRelease, youngDev, oldHeld} {
		d := digestOf(t, img)
		if got := strings.TrimSpace(imagetest.Run(t, crane, "digest", repo.String()+"@"+d)); got != d {
			t.Errorf("kept %s: crane says %q", d, got)
		}
	}
	tags := imagetest.Run(t, crane, "ls", repo.String())
	if strings.Contains(tags, "sha-1111111") || !strings.Contains(tags, "3.3.0-rc.1") || strings.Contains(tags, ".sig") {
		t.Errorf("tags after gc:\n%s", tags)
	}
	// Running again finds nothing more to delete.
	again, err := gc.Run(ctx, backend, refs, policy, false)
	if err != nil || again.Deleted != 0 {
		t.Errorf("second run: %+v, %v", again, err)
	}
}

func countDeletes(r *gc.Result) int {
	n := 0
	for _, d := range r.Decisions {
		if d.Action == gc.Delete {
			n++
		}
	}
	return n
}

func TestReferencesMustBeReadableOrNothingIsDeleted(t *testing.T) {
	t.Parallel()
	empty := t.TempDir()
	if _, err := gc.ReadReferences(empty, "ghcr.io/smp/x"); !errors.Is(err, gc.ErrBadInput) {
		t.Errorf("a directory without environments/: %v", err)
	}
	broken := t.TempDir()
	writeFile(t, filepath.Join(broken, "environments/dev/x.yaml"), "image: [unclosed\n")
	if _, err := gc.ReadReferences(broken, "ghcr.io/smp/x"); !errors.Is(err, gc.ErrBadInput) || !strings.Contains(err.Error(), "environments/dev/x.yaml") {
		t.Errorf("broken YAML: %v", err)
	}
	// The image block is what retention relies on: one that is not a
	// mapping stops gc; keys it does not read never do.
	notMapping := t.TempDir()
	writeFile(t, filepath.Join(notMapping, "environments/dev/x.yaml"), "image: ghcr.io/smp/x:1\n")
	if _, err := gc.ReadReferences(notMapping, "ghcr.io/smp/x"); !errors.Is(err, gc.ErrBadInput) {
		t.Errorf("an image that is a string: %v", err)
	}
	// A symbolic link out of the repository is not followed: what it
	// points at is not what the environment runs.
	linked := t.TempDir()
	outside := filepath.Join(t.TempDir(), "x.yaml")
	writeFile(t, outside, envFile("ghcr.io/smp/x", "1.0.0", digest(1)))
	writeFile(t, filepath.Join(linked, "environments/prod/y.yaml"), envFile("ghcr.io/smp/x", "1.0.0", digest(2)))
	if err := os.Symlink(outside, filepath.Join(linked, "environments/prod/x.yaml")); err != nil {
		t.Fatal(err)
	}
	if _, err := gc.ReadReferences(linked, "ghcr.io/smp/x"); err == nil || !strings.Contains(err.Error(), "environments/prod/x.yaml") || !strings.Contains(err.Error(), "nothing was deleted") {
		t.Errorf("an environment file that links out of the repository: %v", err)
	}
	others := t.TempDir()
	writeFile(t, filepath.Join(others, "environments/dev/x.yaml"), envFile("ghcr.io/smp/x", "1.0.0", digest(1))+"chart: 0.1.0\nstrategy: [a]\nblueGreen: three\n")
	refs, err := gc.ReadReferences(others, "ghcr.io/smp/x")
	if err != nil || len(refs.Digests[digest(1)]) != 1 {
		t.Errorf("keys retention does not read: %v, %v", refs, err)
	}
}

// gitopsRemote makes a bare GitOps repository under root (name.git) with
// one environment file for order-svc running 3.2.5.
func gitopsRemote(t *testing.T, root, name string) string {
	t.Helper()
	work := t.TempDir()
	writeFile(t, filepath.Join(work, "environments/prod/order-svc.yaml"), envFile("ghcr.io/smp/order-svc", "3.2.5", digest(9)))
	imagetest.Git(t, work, "init", "-q", "-b", "main")
	imagetest.Git(t, work, "add", ".")
	imagetest.Git(t, work, "commit", "-q", "-m", "gitops: init")
	bare := filepath.Join(root, name)
	imagetest.Git(t, work, "clone", "-q", "--bare", work, bare)
	return bare
}

func TestAGitURLIsReadThroughTheSharedCache(t *testing.T) {
	t.Parallel()
	bare := gitopsRemote(t, t.TempDir(), "smp-gitops.git")
	cache := t.TempDir()
	for range 2 { // a clone into the cache, then a fetch
		refs, err := gc.ReadRemoteReferences(context.Background(), gitops.Remote{URL: "file://" + bare},
			gitops.MirrorOptions{CacheDir: cache}, "ghcr.io/smp/order-svc")
		if err != nil {
			t.Fatal(err)
		}
		if len(refs.Digests[digest(9)]) != 1 || len(refs.Tags["3.2.5"]) != 1 {
			t.Errorf("refs from the cache: %+v", refs)
		}
	}
	if mirrors, _ := filepath.Glob(filepath.Join(cache, "*.git")); len(mirrors) != 1 {
		t.Errorf("cache holds %v, want one mirror", mirrors)
	}
	_, err := gc.ReadRemoteReferences(context.Background(), gitops.Remote{URL: "file://" + filepath.Join(t.TempDir(), "nope.git")},
		gitops.MirrorOptions{CacheDir: cache}, "ghcr.io/smp/order-svc")
	if !errors.Is(err, gitops.ErrRemoteNotFound) {
		t.Errorf("a missing repository: %v, want ErrRemoteNotFound", err)
	}
}

// TestAPrivateHTTPSRemoteIsReadWithTheToken is the regression test for gc
// reading a private smp-gitops: a real git http-backend that answers 401
// without the token. gc used to run its own `git clone`, which sent none.
func TestAPrivateHTTPSRemoteIsReadWithTheToken(t *testing.T) {
	t.Parallel()
	root := t.TempDir()
	gitopsRemote(t, root, "smp-gitops.git")
	const token = "gc-s3cret-token"
	srv, ca := gitopstest.HTTPSRemote(t, root, token)
	url := srv.URL + "/smp-gitops.git"
	read := func(token string) (gc.References, error) {
		return gc.ReadRemoteReferences(context.Background(), gitops.Remote{URL: url, Token: token, CAFile: ca},
			gitops.MirrorOptions{CacheDir: t.TempDir(), Timeout: time.Minute}, "ghcr.io/smp/order-svc")
	}
	refs, err := read(token)
	if err != nil {
		t.Fatalf("with the token: %v", err)
	}
	if len(refs.Digests[digest(9)]) != 1 {
		t.Errorf("refs over https: %+v", refs)
	}
	for _, bad := range []string{"", "wrong-" + token} {
		_, err := read(bad)
		if !errors.Is(err, gitops.ErrAuth) {
			t.Errorf("token %q: %v, want ErrAuth", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), token) {
			t.Errorf("the token leaked: %v", err)
		}
	}
}

// ghcrContract is a RECORDED CONTRACT of the GitHub Packages REST API
// (docs.github.com/en/rest/packages/packages, API version 2022-11-28):
// GET  /orgs/{org}/packages/container/{package}/versions?per_page&page
// DELETE /orgs/{org}/packages/container/{package}/versions/{id} → 204.
// It is a fake at a boundary we cannot reach from here, not GitHub itself.
type ghcrContract struct {
	mu       sync.Mutex
	versions []map[string]any
	deleted  []string
	token    string
}

func (c *ghcrContract) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+c.token || r.Header.Get("X-GitHub-Api-Version") != "2022-11-28" {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"message":"Bad credentials","documentation_url":"https://docs.github.com/rest"}`))
		return
	}
	const prefix = "/orgs/smp/packages/container/order-svc/versions"
	switch {
	case r.Method == http.MethodGet && r.URL.Path == prefix:
		page := r.URL.Query().Get("page")
		per := r.URL.Query().Get("per_page")
		if per != "100" {
			http.Error(w, "per_page", http.StatusBadRequest)
			return
		}
		out := []map[string]any{}
		if page == "1" {
			out = c.versions
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		_ = json.NewEncoder(w).Encode(out)
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, prefix+"/"):
		c.deleted = append(c.deleted, strings.TrimPrefix(r.URL.Path, prefix+"/"))
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusNotFound)
		_, _ = w.Write([]byte(`{"message":"Not Found"}`))
	}
}

func ghcrVersion(id int, digest string, created time.Time, tags ...string) map[string]any {
	if tags == nil {
		tags = []string{}
	}
	return map[string]any{
		"id": id, "name": digest, "url": fmt.Sprintf("https://api.github.com/orgs/smp/packages/container/order-svc/versions/%d", id),
		"package_html_url": "https://github.com/orgs/smp/packages/container/package/order-svc",
		"created_at":       created.Format(time.RFC3339), "updated_at": created.Format(time.RFC3339),
		"html_url": fmt.Sprintf("https://github.com/orgs/smp/packages/container/order-svc/%d", id),
		"metadata": map[string]any{"package_type": "container", "container": map[string]any{"tags": tags}},
	}
}

func TestGHCRBackendAgainstARecordedContractOfThePackagesAPI(t *testing.T) {
	t.Parallel()
	old := now.Add(-40 * 24 * time.Hour)
	contract := &ghcrContract{token: "ghs_test", versions: []map[string]any{
		ghcrVersion(101, digest(1), old, "sha-1111111"),
		ghcrVersion(102, digest(2), old, "sha-2222222", "3.3.0"),
		ghcrVersion(103, digest(3), old, "sha-3333333"),
		ghcrVersion(104, digest(4), old, "sha256-"+strings.TrimPrefix(digest(1), "sha256:")+".sig"),
		ghcrVersion(105, digest(5), old), // untagged: an index child or referrer
		ghcrVersion(106, digest(6), now.Add(-time.Hour), "sha-6666666"),
	}}
	srv := httptest.NewServer(contract)
	defer srv.Close()
	g, err := gc.NewGHCR("smp/order-svc", "ghs_test")
	if err != nil {
		t.Fatal(err)
	}
	g.API = srv.URL
	refs := gc.References{Digests: map[string][]string{digest(3): {"environments/dev/order-svc.yaml"}}}
	res, err := gc.Run(context.Background(), g, refs, gc.Policy{MaxAge: 720 * time.Hour, Now: now}, false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(contract.deleted, ",") != "101,104" || res.Deleted != 1 {
		t.Fatalf("deleted versions %v (result %+v), want 101 and its signature 104", contract.deleted, res)
	}

	bad, _ := gc.NewGHCR("smp/order-svc", "wrong")
	bad.API = srv.URL
	if _, err := bad.List(context.Background()); err == nil || !strings.Contains(err.Error(), "delete:packages") {
		t.Errorf("a refused token: %v", err)
	}
	if _, err := gc.NewGHCR("smp/order-svc", ""); !errors.Is(err, gc.ErrBadInput) {
		t.Errorf("no token: %v", err)
	}
	if _, err := gc.NewGHCR("order-svc", "x"); !errors.Is(err, gc.ErrBadInput) {
		t.Errorf("no owner: %v", err)
	}
}
