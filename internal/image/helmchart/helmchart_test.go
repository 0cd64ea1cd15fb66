package helmchart_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/registry"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/image/helmchart"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/testkit/helmrender"
	"github.com/smp/delivery/internal/testkit/imagetest"
	"github.com/smp/delivery/internal/testkit/testctx"
)

const orderChart = "../../../examples/order-svc/deployments/helm/order-svc"

// copyChart copies the order-svc chart to a temporary directory a test may change.
func copyChart(t *testing.T) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "order-svc")
	if err := os.CopyFS(dst, os.DirFS(orderChart)); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestPushedChartIsWhatHelmPullsAndRenders(t *testing.T) {
	t.Parallel()
	ctx := testctx.New(t)
	reg := imagetest.Registry(t)
	repo := "oci://" + reg + "/smp/charts"

	res, err := helmchart.Push(ctx, helmchart.PushOptions{Dir: orderChart, Repo: repo, Version: "0.1.0-sha-3f9c2e1"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Pushed || res.Chart != "order-svc" || res.Version != "0.1.0-sha-3f9c2e1" || !strings.HasPrefix(res.Digest, "sha256:") ||
		res.Ref != reg+"/smp/charts/order-svc:0.1.0-sha-3f9c2e1" {
		t.Fatalf("push: %+v", res)
	}

	// The twin of Argo CD's repo-server: Helm's own registry client pulls it.
	client, err := registry.NewClient(registry.ClientOptPlainHTTP(), registry.ClientOptWriter(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	pulled, err := client.Pull(res.Ref)
	if err != nil {
		t.Fatalf("helm pull %s: %v", res.Ref, err)
	}
	if pulled.Manifest.Digest != res.Digest {
		t.Errorf("helm pull sees manifest %s, push said %s", pulled.Manifest.Digest, res.Digest)
	}
	c, err := loader.LoadArchive(strings.NewReader(string(pulled.Chart.Data)))
	if err != nil {
		t.Fatal(err)
	}
	if c.Metadata.Version != "0.1.0-sha-3f9c2e1" || c.Metadata.Name != "order-svc" {
		t.Errorf("pulled chart %s %s", c.Metadata.Name, c.Metadata.Version)
	}
	// The chart's environment values travel inside the package: the ApplicationSets read
	// values-<env>.yaml from it.
	tgz := filepath.Join(t.TempDir(), "order-svc.tgz")
	if err := os.WriteFile(tgz, pulled.Chart.Data, 0o644); err != nil {
		t.Fatal(err)
	}
	inside := map[string]bool{}
	for _, f := range c.Raw {
		inside[f.Name] = true
	}
	for _, env := range []string{"dev", "staging", "prod"} {
		if !inside["values-"+env+".yaml"] {
			t.Errorf("the package has no values-%s.yaml: Argo CD could not layer it", env)
		}
	}
	env := filepath.Join(t.TempDir(), "env.yaml")
	if err := os.WriteFile(env, []byte("image: {repository: ghcr.io/smp/order-svc, tag: 3.3.0, digest: sha256:4f2a8c7d9e1b3a5c6d7e8f9012345678abcdef0123456789abcdef0123456789}\nchart: {version: 0.1.0-sha-3f9c2e1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := helmrender.Render(ctx, tgz, helmrender.Options{ReleaseName: "order-svc", Namespace: "smp-prod", ValuesFiles: []string{filepath.Join(orderChart, "values-prod.yaml"), env}}); err != nil {
		t.Errorf("the pulled chart does not render for prod: %v", err)
	}

	// Resolve finds it by version; a version never pushed is ErrNotFound (exit 1).
	d, err := helmchart.Resolve(ctx, repo, "order-svc", "0.1.0-sha-3f9c2e1", imageref.Access{})
	if err != nil || d != res.Digest {
		t.Errorf("resolve: %s, %v; want %s", d, err, res.Digest)
	}
	_, err = helmchart.Resolve(ctx, repo, "order-svc", "9.9.9", imageref.Access{})
	if !errors.Is(err, helmchart.ErrNotFound) || !fault.IsRefused(err) || !strings.Contains(err.Error(), "smpctl chart push") {
		t.Errorf("resolve of a missing version: %v", err)
	}
}

func TestPublishedVersionsAreImmutable(t *testing.T) {
	t.Parallel()
	ctx := testctx.New(t)
	repo := imagetest.Registry(t) + "/smp/charts"
	dir := copyChart(t)

	first, err := helmchart.Push(ctx, helmchart.PushOptions{Dir: dir, Repo: repo})
	if err != nil {
		t.Fatal(err)
	}
	if first.Version != "0.1.0" {
		t.Errorf("default version %q, want Chart.yaml's 0.1.0", first.Version)
	}
	// A re-run CI job: same content, nothing changes (the archive's timestamps differ).
	again, err := helmchart.Push(ctx, helmchart.PushOptions{Dir: dir, Repo: repo})
	if err != nil {
		t.Fatal(err)
	}
	if again.Pushed || again.Digest != first.Digest {
		t.Errorf("same content pushed again: %+v, first %+v", again, first)
	}
	// Other content under the same version: refused, the published one stays.
	p := filepath.Join(dir, "templates", "service.yaml")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, append(b, []byte("# changed\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = helmchart.Push(ctx, helmchart.PushOptions{Dir: dir, Repo: repo})
	if !errors.Is(err, helmchart.ErrImmutable) || !fault.IsRefused(err) || !strings.Contains(err.Error(), "Chart.yaml") {
		t.Errorf("changed chart under a published version: %v", err)
	}
	if d, err := helmchart.Resolve(ctx, repo, "order-svc", "0.1.0", imageref.Access{}); err != nil || d != first.Digest {
		t.Errorf("the published version changed: %s, %v", d, err)
	}
	// The same change under a new version is published.
	if res, err := helmchart.Push(ctx, helmchart.PushOptions{Dir: dir, Repo: repo, Version: "0.1.1"}); err != nil || !res.Pushed {
		t.Errorf("new version: %+v, %v", res, err)
	}
}

func TestBadChartsAndVersionsAreInputErrors(t *testing.T) {
	t.Parallel()
	ctx := testctx.New(t)
	repo := imagetest.Registry(t) + "/smp/charts"
	cases := []struct {
		name, dir, version string
		want               error
	}{
		{"a range instead of a version", orderChart, ">=0.1.0", helmchart.ErrBadVersion},
		{"a version with a leading v", orderChart, "v0.1.0", helmchart.ErrBadVersion},
		{"a directory that is not a chart", t.TempDir(), "", helmchart.ErrBadChart},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := helmchart.Push(ctx, helmchart.PushOptions{Dir: c.dir, Repo: repo, Version: c.version})
			if !errors.Is(err, c.want) || !fault.IsInvalid(err) {
				t.Errorf("%v, want %v (exit 2)", err, c.want)
			}
		})
	}
	if _, err := helmchart.Push(ctx, helmchart.PushOptions{Dir: orderChart, Repo: ""}); !fault.IsInvalid(err) {
		t.Errorf("empty repository: %v, want an input error", err)
	}
}

func TestUnreachableRepositoryIsARefusal(t *testing.T) {
	t.Parallel()
	ctx := testctx.New(t)
	// A loopback port nothing listens on.
	_, err := helmchart.Push(ctx, helmchart.PushOptions{Dir: orderChart, Repo: "127.0.0.1:1/smp/charts", Access: imageref.Access{Attempts: 1}})
	if err == nil || !fault.IsRefused(err) || !errors.Is(err, imageref.ErrUnreachable) {
		t.Errorf("%v, want ErrUnreachable (exit 1)", err)
	}
}
