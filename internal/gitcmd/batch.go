package gitcmd

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"iter"
	"strconv"
	"strings"
)

// TreeBlobs yields the path and object name of each blob in the output of
// `git ls-tree -r -z` ("<mode> blob <object>\t<path>" records, each ended
// by a NUL: paths come as they are, never quoted). Trees, submodules and
// anything else that is not a blob are left out.
func TreeBlobs(tree []byte) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for rec := range strings.SplitSeq(string(tree), "\x00") {
			meta, p, ok := strings.Cut(rec, "\t")
			if !ok {
				continue
			}
			f := strings.Fields(meta)
			if len(f) != 3 || f[1] != "blob" {
				continue
			}
			if !yield(p, f[2]) {
				return
			}
		}
	}
}

// CatFiles returns the contents of objects — object names, or
// <revision>:<path> without a newline — read by one `git cat-file --batch`
// rather than one git process each (a process costs milliseconds; reading
// ten files one by one was most of a local sync). A missing object's
// content is nil.
func (r Runner) CatFiles(ctx context.Context, objects []string) ([][]byte, error) {
	if len(objects) == 0 {
		return nil, nil
	}
	var batch bytes.Buffer
	for _, o := range objects {
		if strings.ContainsAny(o, "\n\x00") {
			return nil, fmt.Errorf("cat-file: object name %q has a newline or NUL", o)
		}
		batch.WriteString(o)
		batch.WriteByte('\n')
	}
	out, err := r.RunInput(ctx, batch.Bytes(), "cat-file", "--batch")
	if err != nil {
		return nil, err
	}
	return splitBatch(out, objects)
}

// splitBatch splits `git cat-file --batch` output into the contents of
// objects, the names it was given in that order.
func splitBatch(out []byte, objects []string) ([][]byte, error) {
	br := bufio.NewReader(bytes.NewReader(out))
	blobs := make([][]byte, 0, len(objects))
	for _, o := range objects {
		hdr, err := br.ReadString('\n')
		if err != nil {
			return nil, fmt.Errorf("short cat-file output: %w", err)
		}
		// "<name> missing" (or "ambiguous"): the name as given, which may
		// hold spaces (a path), so it is compared whole.
		if hdr == o+" missing\n" {
			blobs = append(blobs, nil)
			continue
		}
		f := strings.Fields(hdr)
		if len(f) != 3 {
			return nil, fmt.Errorf("unexpected cat-file header %q", hdr)
		}
		size, err := strconv.Atoi(f[2])
		if err != nil {
			return nil, fmt.Errorf("unexpected cat-file header %q", hdr)
		}
		b := make([]byte, size+1) // content and its newline
		if _, err := io.ReadFull(br, b); err != nil {
			return nil, fmt.Errorf("short cat-file output: %w", err)
		}
		blobs = append(blobs, b[:size])
	}
	return blobs, nil
}
