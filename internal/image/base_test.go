package image_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/crane"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/smp/delivery/internal/image"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/testkit/imagetest"
)

// distrolessLike pushes to ref an index of one image per platform, shaped
// like gcr.io/distroless/static-debian12:nonroot (user 65532, SSL_CERT_FILE
// in the environment, a layer of files), each platform's layer different;
// release tells two pushes of the same tag apart. It returns the index
// digest and each platform's image.
func distrolessLike(t *testing.T, ref name.Reference, release string, platforms ...v1.Platform) (v1.Hash, map[string]v1.Image) {
	t.Helper()
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	imgs := map[string]v1.Image{}
	for _, p := range platforms {
		layer, err := crane.Layer(map[string][]byte{
			"etc/os-release": []byte("PRETTY_NAME=\"Distroless " + release + "\"\n"),
			"etc/arch":       []byte(p.String() + "\n"),
		})
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON), layer)
		if err != nil {
			t.Fatal(err)
		}
		img, err = mutate.ConfigFile(img, &v1.ConfigFile{
			OS: p.OS, Architecture: p.Architecture, Variant: p.Variant,
			Config: v1.Config{User: "65532", WorkingDir: "/home/nonroot",
				Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"}},
			RootFS: v1.RootFS{Type: "layers", DiffIDs: mustDiffIDs(t, img)},
		})
		if err != nil {
			t.Fatal(err)
		}
		pp := p
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &pp}})
		imgs[p.String()] = img
	}
	if err := remote.WriteIndex(ref, idx); err != nil {
		t.Fatal(err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d, imgs
}

func mustDiffIDs(t *testing.T, img v1.Image) []v1.Hash {
	t.Helper()
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	return cf.RootFS.DiffIDs
}

func layerDigests(t *testing.T, img v1.Image) []string {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range m.Layers {
		out = append(out, l.Digest.String())
	}
	return out
}

func platforms(t *testing.T, s string) []v1.Platform {
	t.Helper()
	p, err := image.ParsePlatforms(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func reference(t *testing.T, s string) name.Reference {
	t.Helper()
	r, err := imageref.Reference(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestTheDefaultBaseIsPulledAndPinnedByDigest(t *testing.T) {
	t.Parallel()
	host := imagetest.Registry(t)
	dir, _ := imagetest.ServiceRepo(t, "default-base")
	def := reference(t, host+"/distroless/static-debian12:nonroot")
	plats := platforms(t, "linux/amd64,linux/arm64")
	baseDigest, bases := distrolessLike(t, def, "12", plats...)
	r := repo(t, host, "smp/health")

	var progress bytes.Buffer
	a := build(t, image.BuildOptions{Dir: dir, Repo: r, Platforms: plats, DefaultBase: def, Progress: &progress})
	p := push(t, a)
	wantBase := def.String() + "@" + baseDigest.String()
	if p.Base != wantBase || !strings.Contains(progress.String(), "build: base "+wantBase+" (default base, pinned by digest") {
		t.Fatalf("base %q, progress:\n%s\nwant %s", p.Base, progress.String(), wantBase)
	}
	pulled, err := remote.Index(r.Digest(p.Digest))
	if err != nil {
		t.Fatal(err)
	}
	im, err := pulled.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if im.Annotations[image.AnnotationBaseName] != def.String() || im.Annotations[image.AnnotationBaseDigest] != baseDigest.String() {
		t.Errorf("index annotations %v, want base %s @ %s", im.Annotations, def, baseDigest)
	}
	for _, pl := range plats {
		img, err := remote.Image(r.Digest(p.Digest), remote.WithPlatform(pl))
		if err != nil {
			t.Fatal(err)
		}
		got, want := layerDigests(t, img), layerDigests(t, bases[pl.String()])
		if len(got) != len(want)+1 || !slices.Equal(got[:len(want)], want) {
			t.Errorf("%s layers %v, want the base's %v and the app layer", pl.String(), got, want)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		c := cf.Config
		if c.User != "65532:65532" || !slices.Equal(c.Entrypoint, []string{"/app/server"}) || cf.Architecture != pl.Architecture {
			t.Errorf("%s config user %q entrypoint %v arch %s", pl.String(), c.User, c.Entrypoint, cf.Architecture)
		}
		var certs int
		for _, e := range c.Env {
			if strings.HasPrefix(e, "SSL_CERT_FILE=") {
				certs++
			}
		}
		if certs != 1 || !slices.Contains(c.Env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") {
			t.Errorf("%s env %v: want the base's PATH and one SSL_CERT_FILE", pl.String(), c.Env)
		}
		m, err := img.Manifest()
		if err != nil {
			t.Fatal(err)
		}
		if m.Annotations[image.AnnotationBaseDigest] != baseDigest.String() {
			t.Errorf("%s manifest annotations %v", pl.String(), m.Annotations)
		}
	}

	// The same commit on the same base: the same digest.
	again := push(t, build(t, image.BuildOptions{Dir: dir, Repo: r, Platforms: plats, DefaultBase: def}))
	if again.Digest != p.Digest {
		t.Fatalf("same commit, same base, different digests: %s then %s", p.Digest, again.Digest)
	}
	// The tag moves to a new base release: the default follows it, and the
	// digest printed before (--base NAME@sha256:…) still rebuilds the
	// first image exactly.
	newDigest, _ := distrolessLike(t, def, "12.1", plats...)
	moved := build(t, image.BuildOptions{Dir: dir, Repo: r, Platforms: plats, DefaultBase: def})
	if d, _ := moved.Digest(); d.String() == p.Digest || moved.Base != def.String()+"@"+newDigest.String() {
		t.Fatalf("after the base moved: digest %s base %s, want a new digest on %s", d, moved.Base, newDigest)
	}
	pin, err := imageref.Digest(p.Base)
	if err != nil {
		t.Fatal(err)
	}
	pinned := build(t, image.BuildOptions{Dir: dir, Repo: r, Platforms: plats, Base: pin})
	if d, _ := pinned.Digest(); d.String() != p.Digest {
		t.Fatalf("--base %s gave %s, want the first build's %s", p.Base, d, p.Digest)
	}
}

// blackhole accepts connections and never answers, as a firewall that
// drops packets would look to a client with a deadline.
func blackhole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestAnUnreachableDefaultBaseFallsBackToTheBuiltInBase(t *testing.T) {
	t.Parallel()
	dir, _ := imagetest.ServiceRepo(t, "fallback")
	r := repo(t, "127.0.0.1:5000", "smp/health")
	builtin := build(t, image.BuildOptions{Dir: dir, Repo: r})
	builtinDigest, _ := builtin.Digest()
	for _, tc := range []struct {
		name, host, says string
		timeout          time.Duration
	}{
		{"a closed port", closedPort(t), "connection refused", 0},
		{"a registry that never answers", blackhole(t), "no answer within 300ms", 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			def := reference(t, tc.host+"/distroless/static-debian12:nonroot")
			var progress bytes.Buffer
			a := build(t, image.BuildOptions{Dir: dir, Repo: r, DefaultBase: def, DefaultBaseTimeout: tc.timeout, Progress: &progress})
			var notes []string
			for _, l := range strings.Split(progress.String(), "\n") {
				if strings.HasPrefix(l, "build: base ") {
					notes = append(notes, l)
				}
			}
			if len(notes) != 1 || !strings.Contains(notes[0], "base built-in: default base "+def.String()+" is unreachable") || !strings.Contains(notes[0], tc.says) {
				t.Errorf("progress lines about the base %q, want one saying %s is unreachable (%s)", notes, def, tc.says)
			}
			d, _ := a.Digest()
			m, err := a.Platforms[0].Image.Manifest()
			if err != nil {
				t.Fatal(err)
			}
			if a.Base != image.BuiltinBase || d != builtinDigest || len(m.Layers) != 2 || m.Annotations[image.AnnotationBaseDigest] != "" {
				t.Errorf("base %q digest %s (built-in build: %s), %d layers, annotations %v", a.Base, d, builtinDigest, len(m.Layers), m.Annotations)
			}
		})
	}
}

func TestADefaultBaseTheRegistryRefusesFailsTheBuild(t *testing.T) {
	t.Parallel()
	host := imagetest.Registry(t)
	dir, _ := imagetest.ServiceRepo(t, "refused")
	r := repo(t, host, "smp/health")
	// A mirror that wants credentials smpctl does not have.
	locked := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="mirror"`)
		http.Error(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`, http.StatusUnauthorized)
	}))
	t.Cleanup(locked.Close)
	// The mirror has the repository, not the tag.
	distrolessLike(t, reference(t, host+"/distroless/static-debian12:debug"), "12", platforms(t, "linux/amd64")...)
	for _, tc := range []struct{ name, ref, says string }{
		{"no such tag (404)", host + "/distroless/static-debian12:nonroot", "answered HTTP 404 with an error"},
		{"credentials refused (401)", strings.TrimPrefix(locked.URL, "http://") + "/distroless/static-debian12:nonroot", "answered HTTP 401 with an error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var progress bytes.Buffer
			_, err := image.Build(context.Background(), image.BuildOptions{Dir: dir, Repo: r, DefaultBase: reference(t, tc.ref), Progress: &progress})
			if !errors.Is(err, image.ErrBaseRefused) || !strings.Contains(err.Error(), tc.says) || !strings.Contains(err.Error(), "does not fall back to the built-in base") {
				t.Fatalf("err = %v, want ErrBaseRefused saying %q and that there is no fall back", err, tc.says)
			}
			if strings.Contains(progress.String(), "base built-in") {
				t.Errorf("progress says the built-in base was used:\n%s", progress.String())
			}
		})
	}
}

func TestABaseWithoutThePlatformIsRefused(t *testing.T) {
	t.Parallel()
	host := imagetest.Registry(t)
	dir, _ := imagetest.ServiceRepo(t, "no-platform")
	r := repo(t, host, "smp/health")
	def := reference(t, host+"/distroless/static-debian12:nonroot")
	distrolessLike(t, def, "12", platforms(t, "linux/amd64")...)
	_, err := image.Build(context.Background(), image.BuildOptions{Dir: dir, Repo: r, DefaultBase: def, Platforms: platforms(t, "linux/amd64,linux/arm64")})
	if !errors.Is(err, image.ErrBadInput) || !strings.Contains(err.Error(), "has no linux/arm64 image (it has linux/amd64)") {
		t.Fatalf("err = %v, want ErrBadInput naming the missing and the available platforms", err)
	}
	// The platform the base has builds.
	a, err := image.Build(context.Background(), image.BuildOptions{Dir: dir, Repo: r, DefaultBase: def, Platforms: platforms(t, "linux/amd64")})
	if err != nil {
		t.Fatalf("linux/amd64 on a linux/amd64 base: %v", err)
	}
	a.Cleanup() // its binaries' folder under $TMPDIR: each run left one
}

// In CI the base comes from one registry (gcr.io) and the image goes to
// another (ghcr.io): the push copies the base's layers across, after Build
// has returned.
func TestAPulledBaseIsCopiedToAnotherRegistryOnPush(t *testing.T) {
	t.Parallel()
	upstream, ours := imagetest.Registry(t), imagetest.Registry(t)
	dir, _ := imagetest.ServiceRepo(t, "cross-registry")
	def := reference(t, upstream+"/distroless/static-debian12:nonroot")
	_, bases := distrolessLike(t, def, "12", platforms(t, "linux/amd64")...)
	r := repo(t, ours, "smp/health")
	p := push(t, build(t, image.BuildOptions{Dir: dir, Repo: r, DefaultBase: def}))
	img, err := remote.Image(r.Digest(p.Digest))
	if err != nil {
		t.Fatal(err)
	}
	want := layerDigests(t, bases["linux/amd64"])
	for i, d := range layerDigests(t, img) {
		h, err := v1.NewHash(d)
		if err != nil {
			t.Fatal(err)
		}
		// Read each layer from our registry: the blob must be there, not
		// only named in the manifest.
		l, err := remote.Layer(r.Digest(d))
		if err != nil {
			t.Fatal(err)
		}
		rc, err := l.Compressed()
		if err != nil {
			t.Fatalf("layer %d %s is not in %s: %v", i, h, ours, err)
		}
		got, _, err := v1.SHA256(rc)
		rc.Close()
		if err != nil || got != h {
			t.Fatalf("layer %d from %s hashes to %s (%v), want %s", i, ours, got, err, h)
		}
	}
	if got := layerDigests(t, img); len(got) != len(want)+1 || !slices.Equal(got[:len(want)], want) {
		t.Fatalf("layers %v, want the base's %v and the app layer", got, want)
	}
}
