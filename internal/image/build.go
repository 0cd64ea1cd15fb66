package image

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/smp/delivery/internal/imageref"
	"github.com/smp/delivery/internal/sbom"
)

// Sentinel errors for inputs the user must fix (exit 2).
var (
	ErrNotMain  = errors.New("not a main package")
	ErrCgoOnly  = errors.New("package needs cgo")
	ErrNoCommit = errors.New("source commit unknown")
	ErrBadInput = errors.New("invalid build input")
)

// OCI annotation keys written on every image (and as config labels).
const (
	AnnotationSource   = "org.opencontainers.image.source"
	AnnotationRevision = "org.opencontainers.image.revision"
	AnnotationVersion  = "org.opencontainers.image.version"
	AnnotationCreated  = "org.opencontainers.image.created"
)

// BuildOptions says what to build. Dir and Repo are required.
type BuildOptions struct {
	// Dir is the service's main package (e.g. ./cmd/server of a service repo).
	Dir string
	// Repo is where the image goes; it gets the tag sha-<short commit>.
	Repo name.Repository
	// Tags are extra tags (checked: never latest or main).
	Tags []string
	// Platforms to build; several make an image index (default linux/amd64).
	Platforms []v1.Platform
	// Version and Commit are baked into the binary (main.version,
	// main.commit); when empty they come from git in Dir.
	Version, Commit string
	// CommitTime stamps files, config and annotations; zero means the
	// commit's time from git, or the Unix epoch when git cannot tell.
	CommitTime time.Time
	// Source is the org.opencontainers.image.source annotation; default
	// the git remote "origin" of Dir, if any.
	Source string
	// GoCmd is the go command (default "go").
	GoCmd string
	// Env is the environment of go and git (default: this process's).
	Env []string
	// CACerts is the CA bundle copied into the base (default DefaultCACerts).
	CACerts string
	// WorkDir keeps the built binaries (default: a temporary directory the
	// caller must remove with Artifact.Cleanup).
	WorkDir string
	// Progress receives one line per step (default: discarded).
	Progress io.Writer
	// Base, when set, replaces the built-in base with an image pulled by
	// digest (e.g. gcr.io/distroless/static-debian12:nonroot@sha256:…);
	// BaseAccess says how to reach its registry.
	Base       name.Digest
	BaseAccess imageref.Access
}

// onBase pulls the base for platform p and puts cfg's runtime settings on
// top of its configuration (its environment is kept, ours appended).
func (o *BuildOptions) onBase(ctx context.Context, p v1.Platform, cfg *v1.ConfigFile) (v1.Image, error) {
	base, err := remote.Image(o.Base, append(o.BaseAccess.Options(ctx), remote.WithPlatform(p))...)
	if err != nil {
		return nil, fmt.Errorf("pull base %s for %s: %w", o.Base, p.String(), imageref.Explain(err, o.Base.Registry, o.BaseAccess.Attempts))
	}
	bc, err := base.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("base %s config: %w", o.Base, err)
	}
	if bc.OS != p.OS || bc.Architecture != p.Architecture {
		return nil, fmt.Errorf("%w: base %s is %s/%s, not %s", ErrBadInput, o.Base, bc.OS, bc.Architecture, p.String())
	}
	nc := bc.DeepCopy()
	nc.Created, nc.Author = cfg.Created, cfg.Author
	nc.Config.User, nc.Config.Entrypoint, nc.Config.Cmd = cfg.Config.User, cfg.Config.Entrypoint, nil
	nc.Config.WorkingDir, nc.Config.ExposedPorts = cfg.Config.WorkingDir, cfg.Config.ExposedPorts
	nc.Config.Env = append(nc.Config.Env, "SSL_CERT_FILE="+DefaultCACerts)
	nc.Config.Labels = cfg.Config.Labels
	img, err := mutate.ConfigFile(base, nc)
	if err != nil {
		return nil, fmt.Errorf("set image config: %w", err)
	}
	return img, nil
}

// PlatformImage is one platform's image and what it was built from.
type PlatformImage struct {
	Platform   v1.Platform
	Image      v1.Image
	Digest     v1.Hash
	BinaryPath string
	BinarySize int64
	SBOM       []byte
}

// Artifact is a built image (or index), ready to push.
type Artifact struct {
	Repo        name.Repository
	Tags        []string // sha-<short> first
	Version     string
	Commit      string
	Created     time.Time
	Annotations map[string]string
	Platforms   []PlatformImage
	// Index is set when several platforms were built.
	Index   v1.ImageIndex
	workDir string
	ownsDir bool
}

// Digest is the digest of what a pull of the tag returns: the index with
// several platforms, else the image.
func (a *Artifact) Digest() (v1.Hash, error) {
	if a.Index != nil {
		return a.Index.Digest()
	}
	return a.Platforms[0].Image.Digest()
}

// Cleanup removes the temporary directory of the binaries.
func (a *Artifact) Cleanup() {
	if a.ownsDir && a.workDir != "" {
		_ = os.RemoveAll(a.workDir)
	}
}

// ShortTag is the tag every build gets: sha- and the first 7 hex digits of
// the commit, as docker/metadata-action's type=sha writes it.
func ShortTag(commit string) string {
	if len(commit) > 7 {
		commit = commit[:7]
	}
	return "sha-" + strings.ToLower(commit)
}

// ParsePlatforms reads "linux/amd64,linux/arm64[/v8]".
func ParsePlatforms(s string) ([]v1.Platform, error) {
	var out []v1.Platform
	seen := map[string]bool{}
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		p, err := v1.ParsePlatform(f)
		if err != nil || p.OS != "linux" || p.Architecture == "" {
			return nil, fmt.Errorf("%w: platform %q: write os/arch[/variant] with os linux, e.g. linux/amd64,linux/arm64", ErrBadInput, f)
		}
		if seen[p.String()] {
			return nil, fmt.Errorf("%w: platform %q given twice", ErrBadInput, f)
		}
		seen[p.String()] = true
		out = append(out, *p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: no platform given: e.g. --platform linux/amd64", ErrBadInput)
	}
	return out, nil
}

func (o *BuildOptions) progress(format string, args ...any) {
	if o.Progress != nil {
		fmt.Fprintf(o.Progress, format+"\n", args...)
	}
}

func (o *BuildOptions) command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = o.Dir
	if o.Env != nil {
		cmd.Env = append([]string(nil), o.Env...)
	} else {
		cmd.Env = cmd.Environ()
	}
	cmd.Env = append(cmd.Env, env...)
	return cmd
}

func (o *BuildOptions) output(ctx context.Context, env []string, name string, args ...string) (string, error) {
	cmd := o.command(ctx, env, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// goPackage is what `go list -json` says about Dir.
type goPackage struct {
	Name           string
	ImportPath     string
	GoFiles        []string
	CgoFiles       []string
	IgnoredGoFiles []string
	Error          *struct{ Err string }
}

func (o *BuildOptions) listPackage(ctx context.Context, cgo string) (*goPackage, error) {
	out, err := o.output(ctx, []string{"CGO_ENABLED=" + cgo}, o.GoCmd, "list", "-find", "-e", "-json=Name,ImportPath,GoFiles,CgoFiles,IgnoredGoFiles,Error", ".")
	if err != nil {
		return nil, err
	}
	var p goPackage
	if err := json.Unmarshal([]byte(out), &p); err != nil {
		return nil, fmt.Errorf("read go list output: %w", err)
	}
	return &p, nil
}

// checkPackage refuses what cannot become a static /app/server.
func (o *BuildOptions) checkPackage(ctx context.Context) error {
	st, err := os.Stat(o.Dir)
	if err != nil || !st.IsDir() {
		return fmt.Errorf("%w: --dir %s is not a directory: give the service's main package, e.g. --dir ./cmd/server", ErrBadInput, o.Dir)
	}
	p, err := o.listPackage(ctx, "0")
	if err != nil {
		return err
	}
	if len(p.GoFiles) == 0 {
		if cp, cerr := o.listPackage(ctx, "1"); cerr == nil && len(cp.CgoFiles) > 0 {
			return fmt.Errorf("%w: %s (%s) builds only with cgo (import \"C\" in %s); images are static (CGO_ENABLED=0): add a pure-Go implementation or drop cgo", ErrCgoOnly, o.Dir, cp.ImportPath, strings.Join(cp.CgoFiles, ", "))
		}
		msg := "no Go files"
		if p.Error != nil {
			msg = p.Error.Err
		}
		return fmt.Errorf("%w: %s: %s; give the service's main package, e.g. --dir ./cmd/server", ErrNotMain, o.Dir, msg)
	}
	if p.Name != "main" {
		return fmt.Errorf("%w: %s is package %q (%s); give the directory of package main, e.g. --dir ./cmd/server", ErrNotMain, o.Dir, p.Name, p.ImportPath)
	}
	if p.Error != nil {
		return fmt.Errorf("%w: %s: %s", ErrBadInput, o.Dir, p.Error.Err)
	}
	return nil
}

// gitFacts fills Commit, Version, CommitTime and Source from git where the
// caller left them empty.
func (o *BuildOptions) gitFacts(ctx context.Context) error {
	if o.Commit == "" {
		c, err := o.output(ctx, nil, "git", "rev-parse", "HEAD")
		if err != nil {
			return fmt.Errorf("%w: no --commit and git cannot tell (%w): run in a git checkout or pass --commit SHA --version V", ErrNoCommit, err)
		}
		o.Commit = c
	}
	if !isHex(o.Commit) || len(o.Commit) < 7 {
		return fmt.Errorf("%w: commit %q is not a hex commit id of at least 7 digits", ErrBadInput, o.Commit)
	}
	o.Commit = strings.ToLower(o.Commit)
	if o.Version == "" {
		v, err := o.output(ctx, nil, "git", "describe", "--tags", "--always")
		if err != nil {
			return fmt.Errorf("%w: no --version and git describe failed (%w): pass --version V", ErrNoCommit, err)
		}
		o.Version = v
	}
	if o.CommitTime.IsZero() {
		if t, err := o.output(ctx, nil, "git", "show", "-s", "--format=%cI", o.Commit); err == nil {
			if ct, perr := time.Parse(time.RFC3339, t); perr == nil {
				o.CommitTime = ct
			}
		}
		if o.CommitTime.IsZero() {
			o.CommitTime = time.Unix(0, 0)
		}
	}
	if o.Source == "" {
		if u, err := o.output(ctx, nil, "git", "remote", "get-url", "origin"); err == nil {
			o.Source = u
		}
	}
	return nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return s != ""
}

// Build compiles Dir for every platform and assembles the image (or index)
// in memory. Nothing leaves the machine; Push does that.
func Build(ctx context.Context, o BuildOptions) (*Artifact, error) {
	if o.GoCmd == "" {
		o.GoCmd = "go"
	}
	if o.CACerts == "" {
		o.CACerts = DefaultCACerts
	}
	if len(o.Platforms) == 0 {
		o.Platforms = []v1.Platform{{OS: "linux", Architecture: "amd64"}}
	}
	if o.Repo.RepositoryStr() == "" {
		return nil, fmt.Errorf("%w: no image repository: pass --image ghcr.io/smp/<service>", ErrBadInput)
	}
	for _, t := range o.Tags {
		if err := imageref.CheckTag(t); err != nil {
			return nil, err
		}
	}
	// go list runs beside git and the first go build: it only reads, and
	// its verdict (not a main package, cgo only) wins over theirs.
	checked := make(chan error, 1)
	go func() { checked <- o.checkPackage(ctx) }()
	var checkErr error
	waitCheck := func() error {
		if checked != nil {
			checkErr, checked = <-checked, nil
		}
		return checkErr
	}
	if err := o.gitFacts(ctx); err != nil {
		if cerr := waitCheck(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	if strings.ContainsAny(o.Version, " \t\n'\"") {
		return nil, fmt.Errorf("%w: version %q contains spaces or quotes", ErrBadInput, o.Version)
	}
	art := &Artifact{
		Repo: o.Repo, Version: o.Version, Commit: o.Commit, Created: o.CommitTime.UTC(),
		Tags: dedupe(append([]string{ShortTag(o.Commit)}, o.Tags...)),
	}
	art.Annotations = map[string]string{
		AnnotationRevision: o.Commit,
		AnnotationVersion:  o.Version,
		AnnotationCreated:  art.Created.Format(time.RFC3339),
	}
	if o.Source != "" {
		art.Annotations[AnnotationSource] = o.Source
	}
	if o.Base.DigestStr() != "" {
		art.Annotations["org.opencontainers.image.base.name"] = o.Base.Context().String()
		art.Annotations["org.opencontainers.image.base.digest"] = o.Base.DigestStr()
	}
	if o.WorkDir == "" {
		d, err := os.MkdirTemp("", "smpctl-build-")
		if err != nil {
			return nil, fmt.Errorf("create build directory: %w", err)
		}
		o.WorkDir, art.ownsDir = d, true
	}
	art.workDir = o.WorkDir
	var base v1.Layer
	var err error
	if o.Base.DigestStr() == "" {
		base, err = baseLayer(o.CACerts, art.Created)
	}
	if err != nil {
		art.Cleanup()
		if cerr := waitCheck(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	for _, p := range o.Platforms {
		pi, err := o.buildPlatform(ctx, art, p, base)
		if cerr := waitCheck(); cerr != nil {
			art.Cleanup()
			return nil, cerr
		}
		if err != nil {
			art.Cleanup()
			return nil, err
		}
		art.Platforms = append(art.Platforms, *pi)
	}
	if len(art.Platforms) > 1 {
		idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
		for _, pi := range art.Platforms {
			p := pi.Platform
			idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: pi.Image, Descriptor: v1.Descriptor{Platform: &p}})
		}
		art.Index = mutate.Annotations(idx, art.Annotations).(v1.ImageIndex)
	}
	return art, nil
}

func dedupe(tags []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, t := range tags {
		if !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

func platformDir(p v1.Platform) string {
	s := p.OS + "-" + p.Architecture
	if p.Variant != "" {
		s += "-" + p.Variant
	}
	return s
}

func (o *BuildOptions) buildPlatform(ctx context.Context, art *Artifact, p v1.Platform, base v1.Layer) (*PlatformImage, error) {
	out := filepath.Join(o.WorkDir, platformDir(p), "server")
	env := []string{"CGO_ENABLED=0", "GOOS=" + p.OS, "GOARCH=" + p.Architecture}
	switch {
	case p.Architecture == "arm" && p.Variant != "":
		env = append(env, "GOARM="+strings.TrimPrefix(p.Variant, "v"))
	case p.Architecture == "amd64" && p.Variant != "":
		env = append(env, "GOAMD64="+p.Variant)
	}
	ldflags := fmt.Sprintf("-s -w -X main.version=%s -X main.commit=%s", art.Version, art.Commit)
	o.progress("build: go build %s for %s (version %s, commit %s)", o.Dir, p.String(), art.Version, ShortTag(art.Commit))
	cmd := o.command(ctx, env, o.GoCmd, "build", "-trimpath", "-ldflags", ldflags, "-o", out, ".")
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("go build %s for %s: %w\n%s", o.Dir, p.String(), err, strings.TrimSpace(stderr.String()))
	}
	app, binSize, binSum, err := appLayer(out, art.Created)
	if err != nil {
		return nil, err
	}
	labels := map[string]string{}
	for k, v := range art.Annotations {
		labels[k] = v
	}
	cfg := &v1.ConfigFile{
		Architecture: p.Architecture, OS: p.OS, Variant: p.Variant,
		Created: v1.Time{Time: art.Created},
		Author:  "smpctl",
		Config: v1.Config{
			User:         User,
			Entrypoint:   []string{Entrypoint},
			WorkingDir:   "/",
			ExposedPorts: map[string]struct{}{Port: {}},
			Env:          []string{"PATH=/usr/local/bin:/usr/bin:/bin", "SSL_CERT_FILE=" + DefaultCACerts},
			Labels:       labels,
		},
		RootFS: v1.RootFS{Type: "layers"},
	}
	created := v1.Time{Time: art.Created}
	var img v1.Image
	if o.Base.DigestStr() != "" {
		img, err = o.onBase(ctx, p, cfg)
	} else {
		img = mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		if img, err = mutate.ConfigFile(img, cfg); err == nil {
			img, err = mutate.Append(img, mutate.Addendum{Layer: base, History: v1.History{Created: created, CreatedBy: "smpctl build: built-in base (ca-certificates, passwd with nonroot 65532, no shell)"}})
		}
	}
	if err != nil {
		return nil, err
	}
	img, err = mutate.Append(img, mutate.Addendum{Layer: app, History: v1.History{Created: created, CreatedBy: "smpctl build: /app/server from " + filepath.Base(o.Dir)}})
	if err != nil {
		return nil, fmt.Errorf("add layers: %w", err)
	}
	img = mutate.Annotations(img, art.Annotations).(v1.Image)
	dig, err := img.Digest()
	if err != nil {
		return nil, fmt.Errorf("image digest: %w", err)
	}
	bi, err := buildinfo.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("SBOM of %s: %w: %w", p.String(), sbom.ErrNoBuildInfo, err)
	}
	doc, err := sbom.FromBuildInfo(bi, binSum, sbom.Subject{Version: art.Version, Commit: art.Commit, Time: art.Created, Platform: p.String()})
	if err != nil {
		return nil, fmt.Errorf("SBOM of %s: %w", p.String(), err)
	}
	o.progress("build: %s image %s (binary %d bytes)", p.String(), dig, binSize)
	return &PlatformImage{Platform: p, Image: img, Digest: dig, BinaryPath: out, BinarySize: binSize, SBOM: doc}, nil
}
