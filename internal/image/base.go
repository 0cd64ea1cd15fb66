package image

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
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

//nolint:gosec // account names, not credentials: "x" means no password
const passwd = `root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
`

const group = `root:x:0:
nobody:x:65534:
nonroot:x:65532:
`

// entry is one file or directory of a layer; a file's content is data or,
// when path is set, streamed from that file.
type entry struct {
	name string
	mode int64
	uid  int
	dir  bool
	data []byte
	path string
	size int64
}

// gzLayer is a layer compressed once, with its digest (of the gzip bytes)
// and diff ID (of the tar) computed while it was written: no second pass
// to hash, and the pushed bytes are exactly these.
type gzLayer struct {
	gz             []byte
	digest, diffID v1.Hash
}

var _ v1.Layer = (*gzLayer)(nil)

func (l *gzLayer) Digest() (v1.Hash, error) { return l.digest, nil }
func (l *gzLayer) DiffID() (v1.Hash, error) { return l.diffID, nil }
func (l *gzLayer) Size() (int64, error)     { return int64(len(l.gz)), nil }
func (l *gzLayer) MediaType() (types.MediaType, error) {
	return types.OCILayer, nil
}
func (l *gzLayer) Compressed() (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(l.gz)), nil
}
func (l *gzLayer) Uncompressed() (io.ReadCloser, error) {
	return gzip.NewReader(bytes.NewReader(l.gz))
}

// gzipBlock is the size of the blocks pgzip compresses in parallel. The
// compressed bytes depend on it (each block is deflated on its own, primed
// with the previous block's last 32 KiB), never on how many blocks run at
// once: it is fixed here so that a 2-core runner and a 64-core laptop give
// the same layer digest. Changing it changes every image digest.
const gzipBlock = 1 << 20

// tarLayer writes entries sorted by name, owned as given, all with mtime t,
// gzipped without a header time: same inputs, same bytes. It returns the
// SHA-256 of each streamed file, keyed by entry name.
func tarLayer(entries []entry, t time.Time) (*gzLayer, map[string]string, error) {
	return tarLayerN(entries, t, runtime.GOMAXPROCS(0))
}

// tarLayerN is tarLayer compressing up to blocks blocks at once. The tar
// stream is written and hashed (diff ID) once, compressed in parallel, and
// the compressed stream hashed (digest) as it comes out, so the binary is
// read once and never re-read to hash or push.
func tarLayerN(entries []entry, t time.Time, blocks int) (*gzLayer, map[string]string, error) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	var size int64
	for _, e := range entries {
		size += e.size + int64(len(e.data))
	}
	var gz bytes.Buffer
	// A Go binary deflates to about half its size: one allocation, no
	// regrowing copies.
	gz.Grow(int(size/2) + 64<<10)
	gzSum, rawSum := sha256.New(), sha256.New()
	zw, err := pgzip.NewWriterLevel(io.MultiWriter(&gz, gzSum), pgzip.BestSpeed)
	if err != nil {
		return nil, nil, err
	}
	if err := zw.SetConcurrency(gzipBlock, max(blocks, 1)); err != nil {
		return nil, nil, err
	}
	zw.ModTime = time.Unix(0, 0) // header mtime 0, as gzip -n writes
	tw := tar.NewWriter(io.MultiWriter(zw, rawSum))
	sums := map[string]string{}
	werr := writeEntries(tw, entries, t, sums)
	if werr == nil {
		if werr = tw.Close(); werr != nil {
			werr = fmt.Errorf("close tar: %w", werr)
		}
	}
	// Closed on every path: it stops the compressing goroutines.
	if cerr := zw.Close(); werr == nil && cerr != nil {
		werr = fmt.Errorf("gzip layer: %w", cerr)
	}
	if werr != nil {
		return nil, nil, werr
	}
	l := &gzLayer{gz: gz.Bytes(),
		digest: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(gzSum.Sum(nil))},
		diffID: v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(rawSum.Sum(nil))}}
	return l, sums, nil
}

func writeEntries(tw *tar.Writer, entries []entry, t time.Time, sums map[string]string) error {
	for _, e := range entries {
		h := &tar.Header{
			Name: e.name, Mode: e.mode, Uid: e.uid, Gid: e.uid,
			ModTime: t.UTC().Truncate(time.Second), Format: tar.FormatPAX,
		}
		switch {
		case e.dir:
			h.Typeflag = tar.TypeDir
			h.Name += "/"
		case e.path != "":
			h.Typeflag, h.Size = tar.TypeReg, e.size
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return fmt.Errorf("tar %s: %w", e.name, err)
		}
		if e.path != "" {
			if err := copyFile(tw, e, sums); err != nil {
				return err
			}
			continue
		}
		if _, err := tw.Write(e.data); err != nil {
			return fmt.Errorf("tar %s: %w", e.name, err)
		}
	}
	return nil
}

func copyFile(w io.Writer, e entry, sums map[string]string) error {
	f, err := os.Open(e.path)
	if err != nil {
		return fmt.Errorf("open %s: %w", e.path, err)
	}
	defer f.Close()
	sum := sha256.New()
	// Large reads, and the file hidden behind a plain Reader so that its
	// WriteTo does not bring back 32 KiB copies.
	n, err := io.CopyBuffer(io.MultiWriter(w, sum), struct{ io.Reader }{f}, make([]byte, 1<<20))
	if err != nil {
		return fmt.Errorf("tar %s: %w", e.name, err)
	}
	if n != e.size {
		return fmt.Errorf("tar %s: %s changed size while it was read", e.name, e.path)
	}
	sums[e.name] = hex.EncodeToString(sum.Sum(nil))
	return nil
}

// baseLayer is the built-in minimal base: CA certificates, passwd and group
// with the nonroot user, a writable /tmp and the nonroot home. No shell, no
// package manager, nothing to run but the service.
func baseLayer(caCerts string, t time.Time) (v1.Layer, error) {
	certs, err := os.ReadFile(caCerts)
	if err != nil {
		return nil, fmt.Errorf("read CA certificates for the built-in base: %w (install ca-certificates or pass --ca-certs FILE)", err)
	}
	l, _, err := tarLayer([]entry{
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
	return l, err
}

// appLayer holds the service binary at /app/server, owned by root and
// executable by everyone: the service cannot rewrite itself. It returns
// the binary's SHA-256 too, computed while the binary was streamed.
func appLayer(binary string, t time.Time) (v1.Layer, int64, string, error) {
	st, err := os.Stat(binary)
	if err != nil {
		return nil, 0, "", fmt.Errorf("built binary: %w", err)
	}
	l, sums, err := tarLayer([]entry{
		{name: "app", mode: 0o755, dir: true},
		{name: "app/server", mode: 0o755, path: binary, size: st.Size()},
	}, t)
	if err != nil {
		return nil, 0, "", err
	}
	return l, st.Size(), sums["app/server"], nil
}
