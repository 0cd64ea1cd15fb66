package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A file of a few compression blocks: half random (incompressible), half
// repetitive, like the text and data sections of a binary.
func blocksFile(t *testing.T) string {
	t.Helper()
	r := rand.New(rand.NewPCG(1, 2))
	var b bytes.Buffer
	for b.Len() < 3*gzipBlock+12345 {
		chunk := make([]byte, 4096)
		for i := range chunk {
			chunk[i] = byte(r.UintN(256))
		}
		b.Write(chunk)
		b.Write(bytes.Repeat([]byte("func main() { serve(\":8080\") }\n"), 128))
	}
	p := filepath.Join(t.TempDir(), "server")
	if err := os.WriteFile(p, b.Bytes(), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// The layer digest must not depend on how many cores compressed it: a CI
// runner and a laptop build the same commit to the same digest.
func TestTheLayerDigestDoesNotDependOnTheNumberOfCores(t *testing.T) {
	t.Parallel()
	bin := blocksFile(t)
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	created := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	layer := func(blocks int) *gzLayer {
		l, _, err := tarLayerN([]entry{{name: "app", mode: 0o755, dir: true}, {name: "app/server", mode: 0o755, path: bin, size: st.Size()}}, created, blocks)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	one, many := layer(1), layer(8)
	if one.digest != many.digest || one.diffID != many.diffID || !bytes.Equal(one.gz, many.gz) {
		t.Fatalf("1 block at a time: digest %s diffID %s; 8 at once: digest %s diffID %s", one.digest, one.diffID, many.digest, many.diffID)
	}
	// The bytes are a valid gzip stream of the tar whose hash is the diff ID,
	// and the digest is the hash of the compressed bytes.
	rc, err := many.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if h := sha256Hex(raw); h != many.diffID.Hex {
		t.Fatalf("the uncompressed stream hashes to %s, diff ID says %s", h, many.diffID.Hex)
	}
	if h := sha256Hex(many.gz); h != many.digest.Hex {
		t.Fatalf("the compressed bytes hash to %s, digest says %s", h, many.digest.Hex)
	}
	// Another mtime is another layer: the check above can tell layers apart.
	other, _, err := tarLayerN([]entry{{name: "app", mode: 0o755, dir: true}, {name: "app/server", mode: 0o755, path: bin, size: st.Size()}}, created.Add(time.Second), 8)
	if err != nil {
		t.Fatal(err)
	}
	if other.digest == many.digest {
		t.Fatal("a different mtime gave the same digest")
	}
}

// A file that changes size while it is read is refused, and the
// compressing goroutines are stopped (the race detector and the leak of a
// blocked writer would show otherwise).
func TestALayerOfAFileThatChangedSizeIsRefused(t *testing.T) {
	t.Parallel()
	bin := blocksFile(t)
	_, _, err := tarLayerN([]entry{{name: "app/server", mode: 0o755, path: bin, size: 10}}, time.Unix(0, 0), 4)
	if err == nil {
		t.Fatal("a file whose size is not the announced one made a layer")
	}
}

func sha256Hex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}
