// Package helmchart publishes a service's Helm chart the way its image is published: packaged
// once, pushed as an OCI artifact to the chart repository Argo CD's ApplicationSets read
// (ghcr.io/smp/charts), immutable, and pinned by version in the environment files, so a chart
// change reaches staging and prod only by promotion (docs/kubernetes.md).
//
// The artifact is what `helm package` + `helm push` make and `helm pull` (and Argo CD's
// repo-server) read: an OCI image manifest whose config is the chart's metadata
// (application/vnd.cncf.helm.config.v1+json) and whose one layer is the chart archive
// (application/vnd.cncf.helm.chart.content.v1.tar+gzip), tagged with the chart version at
// REPO/<chart name>. It is pushed with go-containerregistry so it uses the same credentials,
// retries and loopback-only plain HTTP as every image operation (imageref.Access).
//
// Versions are immutable: pushing a version that exists with different chart content is
// refused; pushing the same content again (a re-run CI job) changes nothing.
package helmchart

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/semver"
)

// Media types of a Helm chart in an OCI registry (Helm's own constants).
const (
	ConfigMediaType = registry.ConfigMediaType
	LayerMediaType  = registry.ChartLayerMediaType
)

var (
	// ErrBadChart means the chart directory does not load as a Helm chart.
	ErrBadChart = fault.Invalidf("not a Helm chart")
	// ErrBadVersion means a chart version that is not strict SemVer (Argo CD would treat a
	// range as a floating version).
	ErrBadVersion = fault.Invalidf("chart version is not SemVer")
	// ErrImmutable means the version already exists in the repository with other content.
	ErrImmutable = fault.Refusedf("chart version already published with different content")
	// ErrNotFound means the repository has no such chart version.
	ErrNotFound = fault.Refusedf("chart version not in the chart repository")
)

// PushOptions say what to publish and where.
type PushOptions struct {
	// Dir is the chart directory (Chart.yaml, values.yaml, templates/).
	Dir string
	// Repo is the chart repository without the chart name: ghcr.io/smp/charts (an
	// oci:// prefix is accepted, as helm push writes it).
	Repo string
	// Version is the chart version to publish; default Chart.yaml's version. CD publishes
	// <Chart.yaml version>-<image tag> (docs/kubernetes.md).
	Version string
	// Access is how the registry is reached.
	Access imageref.Access
}

// Result says what was published.
type Result struct {
	Chart   string `json:"chart"`
	Version string `json:"version"`
	// Ref is REPO/CHART:VERSION, what an ApplicationSet's repoURL/chart/targetRevision name.
	Ref    string `json:"ref"`
	Digest string `json:"digest"`
	// Pushed is false when the repository already held this version with the same content.
	Pushed bool `json:"pushed"`
}

// Version checks that v is a strict SemVer chart version.
func Version(v string) error {
	if _, err := semver.Parse(v); err != nil || strings.ContainsAny(v, "<>=~^*| ,") {
		return fmt.Errorf("%w: %q: use MAJOR.MINOR.PATCH[-PRERELEASE], e.g. 0.2.0 or 0.2.0-sha-3f9c2e1", ErrBadVersion, v)
	}
	return nil
}

// Load loads the chart in dir with version set (default: its own), and returns it with its
// package: the archive `helm package` writes.
func Load(dir, version string) (*chart.Chart, []byte, error) {
	c, err := loader.LoadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrBadChart, dir, err)
	}
	if version != "" {
		c.Metadata.Version = version
	}
	if err := Version(c.Metadata.Version); err != nil {
		return nil, nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %s: %w", ErrBadChart, dir, err)
	}
	tmp, err := os.MkdirTemp("", "smpctl-chart-")
	if err != nil {
		return nil, nil, err
	}
	defer func() { _ = os.RemoveAll(tmp) }()
	p, err := chartutil.Save(c, tmp)
	if err != nil {
		return nil, nil, fmt.Errorf("package %s: %w", dir, err)
	}
	tgz, err := os.ReadFile(p) //nolint:gosec // the archive just written to our own temp dir
	if err != nil {
		return nil, nil, err
	}
	return c, tgz, nil
}

// repoRef is REPO/NAME:VERSION.
func repoRef(repo, chartName, version string) (name.Tag, error) {
	repo = strings.TrimSuffix(strings.TrimPrefix(repo, "oci://"), "/")
	if repo == "" {
		return name.Tag{}, fault.Inputf("Repo", "empty chart repository: e.g. ghcr.io/smp/charts")
	}
	// Helm writes '+' (SemVer build metadata) as '_' in OCI tags.
	t, err := name.NewTag(repo+"/"+chartName+":"+strings.ReplaceAll(version, "+", "_"), name.StrictValidation)
	if err != nil {
		return name.Tag{}, fault.Inputf("Repo", "chart repository %q: %v", repo, err)
	}
	return t, nil
}

// Push packages the chart in o.Dir and publishes it. A version that already exists with the
// same chart content is left as it is (Pushed false); with other content, ErrImmutable.
func Push(ctx context.Context, o PushOptions) (Result, error) {
	c, tgz, err := Load(o.Dir, o.Version)
	if err != nil {
		return Result{}, err
	}
	ref, err := repoRef(o.Repo, c.Name(), c.Metadata.Version)
	if err != nil {
		return Result{}, err
	}
	res := Result{Chart: c.Name(), Version: c.Metadata.Version, Ref: ref.String()}
	opts := o.Access.Options(ctx)

	existing, err := fetch(ctx, ref, o.Access)
	switch {
	case err == nil:
		same, err := sameContent(c, existing.chart)
		if err != nil {
			return res, err
		}
		if !same {
			return res, fmt.Errorf("%w: %s (digest %s); chart versions never change once published: bump version in %s or publish under a new build version",
				ErrImmutable, ref, existing.digest, filepath.Join(o.Dir, "Chart.yaml"))
		}
		res.Digest = existing.digest
		return res, nil
	case !errors.Is(err, ErrNotFound):
		return res, err
	}

	cfg, err := json.Marshal(c.Metadata)
	if err != nil {
		return res, err
	}
	cfgLayer := static.NewLayer(cfg, ConfigMediaType)
	chartLayer := static.NewLayer(tgz, LayerMediaType)
	for _, l := range []v1.Layer{cfgLayer, chartLayer} {
		if err := remote.WriteLayer(ref.Context(), l, opts...); err != nil {
			return res, fmt.Errorf("push %s: %w", ref, imageref.Explain(err, ref.Context().Registry, o.Access.Attempts))
		}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        descriptor(cfgLayer, cfg, ConfigMediaType),
		Layers:        []v1.Descriptor{descriptor(chartLayer, tgz, LayerMediaType)},
		Annotations:   annotations(c.Metadata),
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return res, err
	}
	if err := remote.Put(ref, rawManifest(raw), opts...); err != nil {
		return res, fmt.Errorf("push %s: %w", ref, imageref.Explain(err, ref.Context().Registry, o.Access.Attempts))
	}
	sum := sha256.Sum256(raw)
	res.Digest, res.Pushed = "sha256:"+hex.EncodeToString(sum[:]), true
	return res, nil
}

// Resolve returns the manifest digest of chart version in repo, or ErrNotFound: what
// `smpctl deploy --chart-version` checks before it pins a version Argo CD could not pull.
func Resolve(ctx context.Context, repo, chartName, version string, a imageref.Access) (string, error) {
	if err := Version(version); err != nil {
		return "", err
	}
	ref, err := repoRef(repo, chartName, version)
	if err != nil {
		return "", err
	}
	desc, err := remote.Head(ref, a.Options(ctx)...)
	if err != nil {
		if isNotFound(err) {
			return "", fmt.Errorf("%w: %s: publish it first (smpctl chart push) or pin a published version", ErrNotFound, ref)
		}
		return "", fmt.Errorf("resolve %s: %w", ref, imageref.Explain(err, ref.Context().Registry, a.Attempts))
	}
	return desc.Digest.String(), nil
}

type published struct {
	digest string
	chart  *chart.Chart
}

// fetch reads a published chart version back (what helm pull does).
func fetch(ctx context.Context, ref name.Tag, a imageref.Access) (published, error) {
	desc, err := remote.Get(ref, a.Options(ctx)...)
	if err != nil {
		if isNotFound(err) {
			return published{}, fmt.Errorf("%w: %s", ErrNotFound, ref)
		}
		return published{}, fmt.Errorf("read %s: %w", ref, imageref.Explain(err, ref.Context().Registry, a.Attempts))
	}
	var m v1.Manifest
	if err := json.Unmarshal(desc.Manifest, &m); err != nil {
		return published{}, fmt.Errorf("read %s: manifest: %w", ref, err)
	}
	if m.Config.MediaType != ConfigMediaType || len(m.Layers) == 0 {
		return published{}, fmt.Errorf("%w: %s holds something that is not a Helm chart (config %s)", ErrImmutable, ref, m.Config.MediaType)
	}
	var layer v1.Descriptor
	for _, l := range m.Layers {
		if l.MediaType == LayerMediaType || l.MediaType == registry.LegacyChartLayerMediaType {
			layer = l
		}
	}
	if layer.MediaType == "" {
		return published{}, fmt.Errorf("%w: %s has no chart layer", ErrImmutable, ref)
	}
	l, err := remote.Layer(ref.Context().Digest(layer.Digest.String()), a.Options(ctx)...)
	if err != nil {
		return published{}, fmt.Errorf("read %s: %w", ref, err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return published{}, fmt.Errorf("read %s: %w", ref, err)
	}
	defer func() { _ = rc.Close() }()
	c, err := loader.LoadArchive(rc)
	if err != nil {
		return published{}, fmt.Errorf("read %s: chart archive: %w", ref, err)
	}
	return published{digest: desc.Digest.String(), chart: c}, nil
}

// sameContent compares two charts file by file (the archives differ in their timestamps).
func sameContent(a, b *chart.Chart) (bool, error) {
	fa, err := files(a)
	if err != nil {
		return false, err
	}
	fb, err := files(b)
	if err != nil {
		return false, err
	}
	return fa == fb, nil
}

// files is a digest of every file of a chart with its path, Chart.yaml as metadata.
func files(c *chart.Chart) (string, error) {
	meta, err := json.Marshal(c.Metadata)
	if err != nil {
		return "", err
	}
	all := map[string][]byte{"Chart.yaml": meta}
	for _, f := range c.Raw {
		if f.Name != "Chart.yaml" {
			all[f.Name] = f.Data
		}
	}
	for _, d := range c.Dependencies() {
		sub, err := files(d)
		if err != nil {
			return "", err
		}
		all["charts/"+d.Name()] = []byte(sub)
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%s\x00%d\x00", n, len(all[n]))
		h.Write(all[n])
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func descriptor(l v1.Layer, b []byte, mt types.MediaType) v1.Descriptor {
	d, _ := l.Digest() // static layers cannot fail
	return v1.Descriptor{MediaType: mt, Size: int64(len(b)), Digest: d}
}

// annotations are the manifest annotations helm push writes.
func annotations(m *chart.Metadata) map[string]string {
	a := map[string]string{
		"org.opencontainers.image.title":   m.Name,
		"org.opencontainers.image.version": m.Version,
		"org.opencontainers.image.created": time.Now().UTC().Format(time.RFC3339),
	}
	if m.Description != "" {
		a["org.opencontainers.image.description"] = m.Description
	}
	return a
}

type rawManifest []byte

func (r rawManifest) RawManifest() ([]byte, error)        { return bytes.Clone(r), nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return types.OCIManifestSchema1, nil }

func isNotFound(err error) bool {
	var te *transport.Error
	if errors.As(err, &te) {
		if te.StatusCode == 404 {
			return true
		}
		for _, d := range te.Errors {
			if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
				return true
			}
		}
	}
	return false
}
