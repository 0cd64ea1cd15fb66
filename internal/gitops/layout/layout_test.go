package layout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	scaffold "github.com/smp/delivery/deploy/gitops"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/delivery"

	"github.com/smp/delivery/internal/fault"
)

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestInitWritesTheScaffoldAndCommitsIt(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "smp-gitops")
	remote := filepath.Join(t.TempDir(), "remote.git")
	res, err := Init(ctx, dir, InitOptions{Remote: remote, RepoURL: "https://git.example.com/smp-gitops.git", Identity: Identity{Name: "ops", Email: "ops@example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"delivery.yaml", "README.md", "apps/dev-apps.yaml", "apps/staging-apps.yaml", "apps/prod-apps.yaml",
		"environments/dev/.gitkeep", "environments/staging/.gitkeep", "environments/prod/.gitkeep"} {
		if _, err := os.Stat(filepath.Join(dir, p)); err != nil {
			t.Errorf("missing %s: %v", p, err)
		}
	}
	if got := gitcmdtest.Git(t, dir, "log", "-1", "--format=%s|%an|%cn|%(trailers:key=Action,valueonly)"); got != "gitops: init|ops|ops|init" {
		t.Errorf("first commit = %q", got)
	}
	if gitcmdtest.Git(t, remote, "rev-parse", "main") != res.Commit {
		t.Error("the remote's main is not the first commit")
	}
	if gitcmdtest.Git(t, dir, "status", "--porcelain") != "" {
		t.Error("work tree not clean after init")
	}
	apps := read(t, filepath.Join(dir, "apps/prod-apps.yaml"))
	if !strings.Contains(apps, "https://git.example.com/smp-gitops.git") || strings.Contains(apps, scaffold.DefaultRepoURL) {
		t.Error("--repo-url not written into apps/")
	}

	// Again: nothing to do, nothing touched.
	if _, err := Init(ctx, dir, InitOptions{}); !errors.Is(err, ErrAlreadyInitialized) {
		t.Errorf("second init = %v, want ErrAlreadyInitialized", err)
	}
	// A remote with history is refused before anything is written.
	other := filepath.Join(t.TempDir(), "new")
	if _, err := Init(ctx, other, InitOptions{Remote: remote}); !errors.Is(err, fault.ErrRefused) {
		t.Errorf("init onto a remote with commits = %v, want fault.ErrRefused", err)
	}
	if _, err := os.Stat(other); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a refused init wrote files")
	}
}

func TestInitRefusesADirectoryThatIsNotAGitopsRepository(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	full := t.TempDir()
	os.WriteFile(filepath.Join(full, "notes.txt"), []byte("mine"), 0o644)
	plain := t.TempDir()
	os.WriteFile(filepath.Join(plain, "x"), []byte("x"), 0o644)
	for name, tt := range map[string]struct {
		dir string
		o   InitOptions
	}{
		"a non-empty directory":        {full, InitOptions{}},
		"no directory":                 {"", InitOptions{}},
		"a remote that is a plain dir": {filepath.Join(t.TempDir(), "g"), InitOptions{Remote: plain}},
		"a hosted remote":              {filepath.Join(t.TempDir(), "g"), InitOptions{Remote: "https://github.com/smp/x.git"}},
		"a URL with a quote":           {filepath.Join(t.TempDir(), "g"), InitOptions{RepoURL: "https://x/'y"}},
		"a repo URL with a token":      {filepath.Join(t.TempDir(), "g"), InitOptions{RepoURL: "https://bot:ghp_s3cret@github.com/smp/smp-gitops.git"}},
		"a chart repo URL with a user": {filepath.Join(t.TempDir(), "g"), InitOptions{ChartRepo: "https://bot@ghcr.io/smp/charts"}},
	} {
		if _, err := Init(ctx, tt.dir, tt.o); !errors.Is(err, fault.ErrInvalid) {
			t.Errorf("%s: %v, want bad input", name, err)
		}
	}
	_, err := Init(ctx, filepath.Join(t.TempDir(), "g"), InitOptions{RepoURL: "https://bot:ghp_s3cret@github.com/smp/smp-gitops.git"})
	if err == nil || strings.Contains(err.Error(), "ghp_s3cret") || !strings.Contains(err.Error(), "carries credentials") {
		t.Errorf("a repo URL with a token: %v, want a refusal that does not repeat the token", err)
	}
	if read(t, filepath.Join(full, "notes.txt")) != "mine" {
		t.Error("refused init touched the directory")
	}
}

func TestAddServiceWritesFilesListsTheServiceAndCommitsOnce(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "g")
	if _, err := Init(ctx, dir, InitOptions{}); err != nil {
		t.Fatal(err)
	}
	before := read(t, filepath.Join(dir, "delivery.yaml"))
	res, err := AddService(ctx, dir, "order-svc", AddOptions{Critical: true, Image: "ghcr.io/smp/order"})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Warnings) != 0 {
		t.Errorf("warnings on the scaffold: %q", res.Warnings)
	}
	if strings.Join(res.Files, ",") != "delivery.yaml,environments/dev/order-svc.yaml,environments/prod/order-svc.yaml,environments/staging/order-svc.yaml" {
		t.Errorf("files = %v", res.Files)
	}
	if got := gitcmdtest.Git(t, dir, "log", "-1", "--format=%s|%an|%(trailers:key=Service,valueonly)"); got != "gitops: add order-svc|smpctl-bot|order-svc" {
		t.Errorf("commit = %q", got)
	}
	after := read(t, filepath.Join(dir, "delivery.yaml"))
	// Every comment of the scaffold survives.
	for _, line := range strings.Split(before, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "#") && !strings.Contains(after, line) {
			t.Errorf("comment lost: %q", line)
		}
	}
	prod := decode(t, filepath.Join(dir, "environments/prod/order-svc.yaml"))
	if prod["strategy"] != "blueGreen" || prod["blueGreen"].(map[string]any)["scaleDownDelaySeconds"] != 300 {
		t.Errorf("critical prod file = %v, want blueGreen with scaleDownDelaySeconds 300", prod)
	}
	if dev := decode(t, filepath.Join(dir, "environments/dev/order-svc.yaml")); dev["strategy"] != "rolling" ||
		dev["image"].(map[string]any)["repository"] != "ghcr.io/smp/order" || dev["chart"].(map[string]any)["version"] != "0.1.0" {
		t.Errorf("dev file = %v", dev)
	}
	// The env files are what the ApplicationSets need: chart.version set.
	head := gitcmdtest.Git(t, dir, "rev-parse", "HEAD")
	res, err = AddService(ctx, dir, "order-svc", AddOptions{Critical: true})
	if err != nil || len(res.Files) != 0 || res.Commit != "" || gitcmdtest.Git(t, dir, "rev-parse", "HEAD") != head {
		t.Errorf("second add-service changed something: %+v, %v", res, err)
	}

	// A non-critical service runs rolling everywhere; an existing file is kept.
	custom := "# ours\nimage:\n  repository: ghcr.io/smp/partner-svc\nreplicaCount: 9\n"
	os.MkdirAll(filepath.Join(dir, "environments/prod"), 0o755)
	os.WriteFile(filepath.Join(dir, "environments/prod/partner-svc.yaml"), []byte(custom), 0o644)
	if _, err := AddService(ctx, dir, "partner-svc", AddOptions{}); err != nil {
		t.Fatal(err)
	}
	if read(t, filepath.Join(dir, "environments/prod/partner-svc.yaml")) != custom {
		t.Error("add-service overwrote an existing environment file")
	}
	if decode(t, filepath.Join(dir, "environments/staging/partner-svc.yaml"))["strategy"] != "rolling" {
		t.Error("non-critical service is not rolling")
	}
	cfg, err := delivery.Load(filepath.Join(dir, "delivery.yaml"))
	if err != nil || len(cfg.Services) != 2 {
		t.Fatalf("delivery.yaml services = %+v, %v", cfg, err)
	}
}

func TestAddServiceWithoutGitOnlyWritesFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "delivery.yaml"), []byte("kind: Delivery\n"), 0o644)
	res, err := AddService(context.Background(), dir, "order-svc", AddOptions{})
	if err != nil || res.Commit != "" || len(res.Files) != 4 {
		t.Fatalf("%+v %v", res, err)
	}
	// No apps/ here: each environment is named as not deployed by Argo CD.
	if len(res.Warnings) != 3 || !strings.Contains(res.Warnings[2], "apps/prod-apps.yaml does not exist") {
		t.Errorf("warnings = %q", res.Warnings)
	}
}

func TestAddServiceRefusesBadInputAndWritesNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "g")
	if _, err := Init(ctx, dir, InitOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, svc string
		o         AddOptions
	}{
		{"path traversal", "../evil", AddOptions{}},
		{"a slash", "a/b", AddOptions{}},
		{"a backslash", `..\x`, AddOptions{}},
		{"upper case", "Order", AddOptions{}},
		{"a space", "order svc", AddOptions{}},
		{"unicode", "ordér", AddOptions{}},
		{"empty", "", AddOptions{}},
		{"an image with a tag", "x", AddOptions{Image: "ghcr.io/smp/x:latest"}},
		{"an image with a digest", "x", AddOptions{Image: "ghcr.io/smp/x@sha256:abc"}},
		{"a chart version that is not semver", "x", AddOptions{ChartVersion: "latest"}},
	} {
		if _, err := AddService(ctx, dir, tt.svc, tt.o); !errors.Is(err, fault.ErrInvalid) {
			t.Errorf("%s: %v, want bad input", tt.name, err)
		}
	}
	if _, err := AddService(ctx, t.TempDir(), "x", AddOptions{}); !errors.Is(err, fault.ErrInvalid) || !strings.Contains(err.Error(), "gitops init") {
		t.Errorf("not a gitops repo: %v", err)
	}
	if gitcmdtest.Git(t, dir, "status", "--porcelain") != "" || gitcmdtest.Git(t, dir, "rev-list", "--count", "HEAD") != "1" {
		t.Error("refused add-service left changes or commits")
	}
}

func decode(t *testing.T, p string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal([]byte(read(t, p)), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestScaffoldIsWhatTheOtherPartsExpect checks what a schema cannot: the
// sync policies per environment, the pinned chart, the values source.
func TestScaffoldIsWhatTheOtherPartsExpect(t *testing.T) {
	t.Parallel()
	cfgBytes, err := fs.ReadFile(scaffold.FS(), "delivery.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := delivery.Parse(cfgBytes)
	if err != nil {
		t.Fatalf("scaffold delivery.yaml: %v", err)
	}
	if strings.Join(cfg.EnvNames(), ",") != "dev,staging,prod" || len(cfg.Freezes) != 1 || cfg.Freezes[0].TimeZone != "Asia/Ho_Chi_Minh" {
		t.Errorf("delivery.yaml = %+v", cfg)
	}
	for _, env := range cfg.Environments {
		b, err := fs.ReadFile(scaffold.FS(), "apps/"+env.Name+"-apps.yaml")
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		kinds := map[string]map[string]any{}
		for {
			var doc map[string]any
			if err := dec.Decode(&doc); err != nil {
				break
			}
			if doc["apiVersion"] != "argoproj.io/v1alpha1" {
				t.Errorf("%s: apiVersion %v", env.Name, doc["apiVersion"])
			}
			kinds[doc["kind"].(string)] = doc
		}
		set := kinds["ApplicationSet"]
		if set == nil || kinds["AppProject"] == nil {
			t.Fatalf("%s-apps.yaml: want an AppProject and an ApplicationSet, got %v", env.Name, kinds)
		}
		spec := set["spec"].(map[string]any)
		gen := spec["generators"].([]any)[0].(map[string]any)["git"].(map[string]any)
		if p := gen["files"].([]any)[0].(map[string]any)["path"]; p != "environments/"+env.Name+"/*.yaml" {
			t.Errorf("%s: generator path %v", env.Name, p)
		}
		tmpl := spec["template"].(map[string]any)["spec"].(map[string]any)
		sources := tmpl["sources"].([]any)
		chart := sources[0].(map[string]any)
		helm, _ := chart["helm"].(map[string]any)
		if len(sources) != 1 || chart["targetRevision"] != "{{ .chart.version }}" || helm["values"] != `{{ omit . "path" | toJson }}` {
			t.Errorf("%s: sources = %v: want the chart alone, at .chart.version, with the environment file the generator read as its values", env.Name, sources)
		}
		_, automated := tmpl["syncPolicy"].(map[string]any)["automated"]
		if automated != (env.Sync == delivery.SyncAutomated) {
			t.Errorf("%s: automated sync = %v, delivery.yaml says %s", env.Name, automated, env.Sync)
		}
		if automated {
			a := tmpl["syncPolicy"].(map[string]any)["automated"].(map[string]any)
			if a["prune"] != true || a["selfHeal"] != true {
				t.Errorf("%s: automated = %v, want prune and selfHeal", env.Name, a)
			}
		}
		if d := tmpl["destination"].(map[string]any)["namespace"]; d != env.Namespace {
			t.Errorf("%s: namespace %v, delivery.yaml says %s", env.Name, d, env.Namespace)
		}
	}
}

func TestInitThatCannotPushLeavesNothingBehind(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	remote := filepath.Join(t.TempDir(), "remote.git")
	gitcmdtest.Git(t, t.TempDir(), "init", "--quiet", "--bare", remote)
	hook := filepath.Join(remote, "hooks", "pre-receive")
	if err := os.WriteFile(hook, []byte("#!/bin/sh\necho 'refused by policy' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "g")
	_, err := Init(ctx, dir, InitOptions{Remote: remote})
	if !errors.Is(err, fault.ErrRefused) || !strings.Contains(err.Error(), "refused by policy") {
		t.Fatalf("init onto a refusing remote = %v, want fault.ErrRefused with the hook's message", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Error("a failed init left its directory")
	}
	if refs := gitcmdtest.Git(t, remote, "for-each-ref"); refs != "" {
		t.Errorf("the remote got refs: %s", refs)
	}
}

func TestAddServiceThatCannotCommitPutsEverythingBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "g")
	if _, err := Init(ctx, dir, InitOptions{}); err != nil {
		t.Fatal(err)
	}
	before := read(t, filepath.Join(dir, "delivery.yaml"))
	// Another git process holds the index: staging fails.
	lock := filepath.Join(dir, ".git", "index.lock")
	if err := os.WriteFile(lock, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := AddService(ctx, dir, "order-svc", AddOptions{}); err == nil || !strings.Contains(err.Error(), "index.lock") {
		t.Fatalf("add-service with a locked index = %v, want git's lock error", err)
	}
	os.Remove(lock)
	if read(t, filepath.Join(dir, "delivery.yaml")) != before {
		t.Error("delivery.yaml not restored")
	}
	if got := gitcmdtest.Git(t, dir, "status", "--porcelain"); got != "" {
		t.Errorf("work tree not clean after a failed add-service:\n%s", got)
	}
}

// TestAddServiceNeverFollowsALinkOutOfTheRepository: add-service runs on a
// checkout, and read delivery.yaml and wrote the environment files with
// os.ReadFile and os.WriteFile, so a symbolic link committed in smp-gitops
// (delivery.yaml, or environments/dev) made it read, and write, where the
// link pointed.
func TestAddServiceNeverFollowsALinkOutOfTheRepository(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, link := range []string{"delivery.yaml", "environments/dev"} {
		t.Run(link, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "g")
			if _, err := Init(ctx, dir, InitOptions{}); err != nil {
				t.Fatal(err)
			}
			outside := t.TempDir()
			target := filepath.Join(outside, "target")
			p := filepath.Join(dir, filepath.FromSlash(link))
			if link == "delivery.yaml" {
				b, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(target, b, 0o644); err != nil {
					t.Fatal(err)
				}
			} else if err := os.Mkdir(target, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(p); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			before := dirDigest(t, outside)
			_, err := AddService(ctx, dir, "pay-svc", AddOptions{})
			if !fault.IsRefused(err) || !strings.Contains(err.Error(), "a link out of the work tree is not followed") {
				t.Fatalf("add-service with %s a link out of the repository = %v, want a refusal", link, err)
			}
			if dirDigest(t, outside) != before {
				t.Errorf("add-service wrote through the link to %s", outside)
			}
		})
	}
}

// dirDigest lists every file under dir with its content.
func dirDigest(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		c, err := os.ReadFile(p)
		fmt.Fprintf(&b, "%s=%q\n", p, c)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
