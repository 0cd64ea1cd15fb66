// Package testimage builds real OCI images of a small test service and pushes
// them to a real registry, so the runtime, smoke and gate tests exercise the
// same pull → verify → extract → run path as production images, before (and
// beside) the reference service. The service's source is
// testdata/server/main.go; its version and behaviour are linked in, so each
// image is a distinct binary with a distinct digest.
package testimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/smp/delivery/internal/testkit/checkout"
	"github.com/smp/delivery/internal/testkit/gobuild"
)

// Modes of the test server (see testdata/server).
const (
	ModeOK        = "ok"
	ModeCrash     = "crash"
	ModeErrors    = "errors"
	ModeSlow      = "slow"
	ModeNoMigrate = "nomigrate"
)

var (
	buildMu sync.Mutex
	built   = map[string]string{}
)

// source is the test server's package directory, found from the checkout
// so builds work from any test's working directory.
func source() string {
	return checkout.Path("internal/testkit/testimage/testdata/server")
}

// Binary compiles the test server with version and mode linked in, into dir,
// and returns its path. Builds are memoized per process, and linked once
// across processes and runs (gobuild). ctx bounds the
// build: a cold `go build` under parallel suites takes what it takes, so
// tests pass their own deadline (testctx), never a fixed timeout.
func Binary(ctx context.Context, dir, version, mode string) (string, error) {
	key := dir + "|" + version + "|" + mode
	buildMu.Lock()
	defer buildMu.Unlock()
	if p, ok := built[key]; ok {
		return p, nil
	}
	out := filepath.Join(dir, fmt.Sprintf("server-%s-%s", version, mode))
	ldflags := fmt.Sprintf("-s -w -X main.version=%s -X main.commit=test%s -X main.mode=%s", version, version, mode)
	if err := gobuild.Build(ctx, source(), out, []string{"-trimpath", "-ldflags", ldflags, "."}, []string{"CGO_ENABLED=0"}); err != nil {
		return "", fmt.Errorf("build test server %s/%s: %w", version, mode, err)
	}
	built[key] = out
	return out, nil
}

var (
	imageMu sync.Mutex
	images  = map[string]v1.Image{}
)

// Image wraps the binary at bin as /app/server in a single-layer image with
// the production image's config: entrypoint /app/server, user 65532. Images
// are memoized per binary, their compressed layer kept, so tests that push
// the same version to several registries compress it once.
func Image(bin string) (v1.Image, error) {
	imageMu.Lock()
	defer imageMu.Unlock()
	if img, ok := images[bin]; ok {
		return img, nil
	}
	img, err := buildImage(bin)
	if err != nil {
		return nil, err
	}
	images[bin] = img
	return img, nil
}

func buildImage(bin string) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", bin, err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range []*tar.Header{
		{Name: "app/", Typeflag: tar.TypeDir, Mode: 0o755},
		{Name: "app/server", Typeflag: tar.TypeReg, Mode: 0o755, Size: int64(len(data)), Uid: 65532, Gid: 65532},
	} {
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerBytes)), nil },
		tarball.WithCompressionLevel(gzip.BestSpeed), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Config.Entrypoint = []string{"/app/server"}
	cf.Config.User = "65532:65532"
	return mutate.ConfigFile(img, cf)
}

// Push builds the test server (version, mode), wraps it in an image and
// pushes it as ref (repository:tag); it returns the image's digest.
func Push(ctx context.Context, dir, ref, version, mode string) (v1.Hash, error) {
	bin, err := Binary(ctx, dir, version, mode)
	if err != nil {
		return v1.Hash{}, err
	}
	img, err := Image(bin)
	if err != nil {
		return v1.Hash{}, err
	}
	return PushImage(ctx, img, ref)
}

// PushImage pushes img as ref (repository:tag) and returns its digest.
func PushImage(ctx context.Context, img v1.Image, ref string) (v1.Hash, error) {
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		return v1.Hash{}, fmt.Errorf("parse %s: %w", ref, err)
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		return v1.Hash{}, fmt.Errorf("push %s: %w", ref, err)
	}
	return img.Digest()
}
