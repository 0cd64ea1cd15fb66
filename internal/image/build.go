package image

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/image/sbom"

	"github.com/smp/delivery/internal/fault"
)

// Sentinel errors for inputs the user must fix (exit 2).
var (
	ErrNotMain  = fault.Invalidf("not a main package")
	ErrCgoOnly  = fault.Invalidf("package needs cgo")
	ErrNoCommit = fault.Invalidf("source commit unknown")
	ErrBadInput = fault.Invalidf("invalid build input")
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
	// Base, when set, is the base image, pulled by digest (e.g.
	// gcr.io/distroless/static-debian12:nonroot@sha256:…); failing to pull
	// it is an error.
	Base name.Digest
	// DefaultBase, when Base is not set, is asked for (e.g. DefaultBase,
	// gcr.io/distroless/static-debian12:nonroot) under DefaultBaseTimeout:
	// if its registry answers, the image is pinned by digest; if it cannot
	// be reached, the built-in base is used and Progress says so; if it
	// answers with an error, Build fails with ErrBaseRefused. Nil: the
	// built-in base, no network.
	DefaultBase name.Reference
	// DefaultBaseTimeout bounds the resolution of DefaultBase (default
	// DefaultBaseTimeout).
	DefaultBaseTimeout time.Duration
	// BaseAccess says how to reach the base's registry.
	BaseAccess imageref.Access
	// Migrations is the service's golang-migrate directory, whose highest
	// version the image records in AnnotationSchemaVersion (default:
	// MigrationsDirName at the root of Dir's module, if it exists).
	Migrations string
}

// onBase puts cfg's runtime settings on top of the configuration of the
// base's image for p (its environment is kept, SSL_CERT_FILE set).
func onBase(base *pulledBase, p v1.Platform, cfg *v1.ConfigFile) (v1.Image, error) {
	img, err := base.image(p)
	if err != nil {
		return nil, err
	}
	bc, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("base %s config: %w", base, err)
	}
	if bc.OS != p.OS || bc.Architecture != p.Architecture {
		return nil, fmt.Errorf("%w: base %s is %s/%s, not %s", ErrBadInput, base, bc.OS, bc.Architecture, p.String())
	}
	nc := bc.DeepCopy()
	nc.Created, nc.Author = cfg.Created, cfg.Author
	nc.Config.User, nc.Config.Entrypoint, nc.Config.Cmd = cfg.Config.User, cfg.Config.Entrypoint, nil
	nc.Config.WorkingDir, nc.Config.ExposedPorts = cfg.Config.WorkingDir, cfg.Config.ExposedPorts
	env := nc.Config.Env[:0:0]
	for _, e := range nc.Config.Env {
		if !strings.HasPrefix(e, "SSL_CERT_FILE=") {
			env = append(env, e)
		}
	}
	nc.Config.Env = append(env, "SSL_CERT_FILE="+DefaultCACerts)
	nc.Config.Labels = cfg.Config.Labels
	out, err := mutate.ConfigFile(img, nc)
	if err != nil {
		return nil, fmt.Errorf("set image config: %w", err)
	}
	return out, nil
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
	// Base is the base used: NAME@sha256:… when pulled, else BuiltinBase.
	Base string
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
		return nil, fault.Inputf("Platforms", "%w: no platform given: give one such as linux/amd64", ErrBadInput)
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
		return fault.Inputf("Dir", "%w: %s is not a directory: give the service's main package, e.g. ./cmd/server", ErrBadInput, o.Dir)
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
		return fault.Inputf("Dir", "%w: %s: %s; give the service's main package, e.g. ./cmd/server", ErrNotMain, o.Dir, msg)
	}
	if p.Name != "main" {
		return fault.Inputf("Dir", "%w: %s is package %q (%s); give the directory of package main, e.g. ./cmd/server", ErrNotMain, o.Dir, p.Name, p.ImportPath)
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
			return fault.Inputf("Commit", "%w: none given and git cannot tell (%w): run in a git checkout or give the commit and the version", ErrNoCommit, err)
		}
		o.Commit = c
	}
	if !isHex(o.Commit) || len(o.Commit) < 7 {
		return fault.Inputf("Commit", "%w: commit %q is not a hex commit id of at least 7 digits", ErrBadInput, o.Commit)
	}
	o.Commit = strings.ToLower(o.Commit)
	if o.Version == "" {
		v, err := o.output(ctx, nil, "git", "describe", "--tags", "--always")
		if err != nil {
			return fault.Inputf("Version", "%w: no version given and git describe failed (%w): give the version", ErrNoCommit, err)
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
//
// What runs beside what: the base is resolved (a registry round trip at
// most) while git and go build run. `go list` only runs when go build
// failed or did not give an executable, to say why (not a main package,
// cgo only): on the happy path it would compete with the compiler for the
// CPU.
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
		return nil, fault.Inputf("Repo", "%w: no image repository: give one such as ghcr.io/smp/<service>", ErrBadInput)
	}
	for _, t := range o.Tags {
		if err := imageref.CheckTag(t); err != nil {
			return nil, err
		}
	}
	if st, err := os.Stat(o.Dir); err != nil || !st.IsDir() {
		return nil, fault.Inputf("Dir", "%w: %s is not a directory: give the service's main package, e.g. ./cmd/server", ErrBadInput, o.Dir)
	}
	// On an early return the resolution finishes on its own (bounded by
	// DefaultBaseTimeout or the retries) into the buffered channel; it
	// runs under ctx, not a context cancelled on return, because pushing
	// streams the base's layers under the context it was fetched with.
	// It works on a copy of the options: Build fills in o's git facts
	// meanwhile.
	resolved := make(chan baseResult, 1)
	req := o
	go func() {
		c, err := req.resolveBase(ctx)
		resolved <- baseResult{c, err}
	}()
	if err := o.gitFacts(ctx); err != nil {
		if cerr := o.checkPackage(ctx); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	if strings.ContainsAny(o.Version, " \t\n'\"") {
		return nil, fmt.Errorf("%w: version %q contains spaces or quotes", ErrBadInput, o.Version)
	}
	if err := o.checkTree(); err != nil {
		return nil, err
	}
	schema, hasSchema, err := o.schemaVersion()
	if err != nil {
		return nil, err
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
	if hasSchema {
		art.Annotations[AnnotationSchemaVersion] = strconv.FormatUint(uint64(schema), 10)
		recorded, ok, err := o.recordedMigrations()
		if err != nil {
			return nil, err
		}
		if ok {
			art.Annotations[AnnotationMigrations] = recorded
		}
	}
	if o.WorkDir == "" {
		d, err := os.MkdirTemp("", "smpctl-build-")
		if err != nil {
			return nil, fmt.Errorf("create build directory: %w", err)
		}
		o.WorkDir, art.ownsDir = d, true
	}
	art.workDir = o.WorkDir
	var base *baseImage
	for _, p := range o.Platforms {
		bin, err := o.compile(ctx, art, p)
		if err == nil && base == nil {
			base, err = o.waitBase(art, resolved)
		}
		var pi *PlatformImage
		if err == nil {
			pi, err = o.assemble(art, p, bin, base)
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

type baseResult struct {
	choice *baseChoice
	err    error
}

// base is what the images are layered on: a pulled image, or the built-in
// layer.
type baseImage struct {
	pulled  *pulledBase
	builtin v1.Layer
}

// waitBase takes the resolved base, says which it is, and records it in
// the artifact and its annotations.
func (o *BuildOptions) waitBase(art *Artifact, resolved <-chan baseResult) (*baseImage, error) {
	r := <-resolved
	if r.err != nil {
		return nil, r.err
	}
	o.progress("%s", r.choice.note)
	if b := r.choice.pulled; b != nil {
		art.Base = b.String()
		art.Annotations[AnnotationBaseName] = b.name
		art.Annotations[AnnotationBaseDigest] = b.pinned.DigestStr()
		return &baseImage{pulled: b}, nil
	}
	l, err := baseLayer(o.CACerts, art.Created)
	if err != nil {
		return nil, err
	}
	art.Base = BuiltinBase
	return &baseImage{builtin: l}, nil
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

// compiled is one platform's binary.
type compiled struct {
	path      string
	buildInfo *debug.BuildInfo
}

// compile runs go build for p. When it fails, or gives something that is
// not a Go executable (go build -o of a library writes an archive), go list
// says why if it can.
func (o *BuildOptions) compile(ctx context.Context, art *Artifact, p v1.Platform) (*compiled, error) {
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
		if cerr := o.checkPackage(ctx); cerr != nil {
			return nil, cerr
		}
		return nil, fmt.Errorf("go build %s for %s: %w\n%s", o.Dir, p.String(), err, strings.TrimSpace(stderr.String()))
	}
	bi, err := buildinfo.ReadFile(out)
	if err != nil {
		if cerr := o.checkPackage(ctx); cerr != nil {
			return nil, cerr
		}
		return nil, fmt.Errorf("SBOM of %s: %w: %w", p.String(), sbom.ErrNoBuildInfo, err)
	}
	return &compiled{path: out, buildInfo: bi}, nil
}

// assemble layers the binary on the base and writes the SBOM.
func (o *BuildOptions) assemble(art *Artifact, p v1.Platform, bin *compiled, b *baseImage) (*PlatformImage, error) {
	app, binSize, binSum, err := appLayer(bin.path, art.Created)
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
	if b.pulled != nil {
		img, err = onBase(b.pulled, p, cfg)
	} else {
		img = mutate.MediaType(empty.Image, types.OCIManifestSchema1)
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		if img, err = mutate.ConfigFile(img, cfg); err == nil {
			img, err = mutate.Append(img, mutate.Addendum{Layer: b.builtin, History: v1.History{Created: created, CreatedBy: "smpctl build: built-in base (ca-certificates, passwd with nonroot 65532, no shell)"}})
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
	doc, err := sbom.FromBuildInfo(bin.buildInfo, binSum, sbom.Subject{Version: art.Version, Commit: art.Commit, Time: art.Created, Platform: p.String()})
	if err != nil {
		return nil, fmt.Errorf("SBOM of %s: %w", p.String(), err)
	}
	o.progress("build: %s image %s (binary %d bytes)", p.String(), dig, binSize)
	return &PlatformImage{Platform: p, Image: img, Digest: dig, BinaryPath: bin.path, BinarySize: binSize, SBOM: doc}, nil
}
