package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The non-root identity of distroless' :nonroot images, which the built-in
// base reproduces so that Helm charts written for either work unchanged.
const (
	NonRootUID = 65532
	User       = "65532:65532"
	Entrypoint = "/app/server"
	Port       = "8080/tcp"
	// DefaultCACerts is where Debian and Ubuntu keep the CA bundle the
	// built-in base copies from the build machine.
	DefaultCACerts = "/etc/ssl/certs/ca-certificates.crt"
)

const passwd = `root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
`

const group = `root:x:0:
nobody:x:65534:
nonroot:x:65532:
`

// entry is one file or directory of a layer.
type entry struct {
	name string
	mode int64
	uid  int
	dir  bool
	data []byte
}

// tarLayer writes entries sorted by name, owned as given, all with mtime t,
// and gzips the result without a header time: same inputs, same bytes.
func tarLayer(entries []entry, t time.Time) (v1.Layer, error) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid,
			ModTime: t.UTC().Truncate(time.Second), Format: tar.FormatPAX,
		}
		if e.dir {
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		} else {
			h.Typeflag = tar.TypeReg
			h.Size = int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", e.name, err)
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, fmt.Errorf("tar %s: %w", e.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close tar: %w", err)
	}
	var gz bytes.Buffer
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestSpeed)
	if err != nil {
		return nil, err
	}
	if _, err := io.Copy(zw, &raw); err != nil {
		return nil, fmt.Errorf("gzip layer: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip layer: %w", err)
	}
	b := gz.Bytes()
	// The layer is compressed once, here; go-containerregistry computes the
	// diff ID by reading it back, and pushes these exact bytes.
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, tarball.WithMediaType(types.OCILayer))
}

// baseLayer is the built-in minimal base: CA certificates, passwd and group
// with the nonroot user, a writable /tmp and the nonroot home. No shell, no
// package manager, nothing to run but the service.
func baseLayer(caCerts string, t time.Time) (v1.Layer, error) {
	certs, err := os.ReadFile(caCerts)
	if err != nil {
		return nil, fmt.Errorf("read CA certificates for the built-in base: %w (install ca-certificates or pass --ca-certs FILE)", err)
	}
	return tarLayer([]entry{
		{name: "etc", mode: 0o755, dir: true},
		{name: "etc/group", mode: 0o644, data: []byte(group)},
		{name: "etc/passwd", mode: 0o644, data: []byte(passwd)},
		{name: "etc/ssl", mode: 0o755, dir: true},
		{name: "etc/ssl/certs", mode: 0o755, dir: true},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: certs},
		{name: "home", mode: 0o755, dir: true},
		{name: "home/nonroot", mode: 0o700, uid: NonRootUID, dir: true},
		{name: "tmp", mode: 0o1777, dir: true},
	}, t)
}

// appLayer holds the service binary at /app/server, owned by root and
// executable by everyone: the service cannot rewrite itself.
func appLayer(binary []byte, t time.Time) (v1.Layer, error) {
	return tarLayer([]entry{
		{name: "app", mode: 0o755, dir: true},
		{name: "app/server", mode: 0o755, data: binary},
	}, t)
}
