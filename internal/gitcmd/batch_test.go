package gitcmd

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTreeBlobsAndCatFilesReadATreeThroughOneProcess: the listing gives
// every blob with its path as written (a space, a quote, a newline, a
// non-ASCII name: -z output is never quoted), leaves out the trees, and
// CatFiles returns each content in the order asked, nil for a name that
// does not exist, and the content of a <revision>:<path> with a space.
func TestTreeBlobsAndCatFilesReadATreeThroughOneProcess(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	g := Runner{Dir: dir, Env: []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com"}}
	files := map[string]string{
		"delivery.yaml":                 "version: 1\n",
		"environments/dev/a b.yaml":     "with a space\n",
		"environments/dev/\"q\".yaml":   "",
		"environments/dev/line\nx.yaml": "a newline in the name\n",
		"environments/dev/café.yaml":    "non-ASCII\n",
		"other/skipped.yaml":            "not listed\n",
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, args := range [][]string{{"init", "--quiet", "--initial-branch=main"}, {"add", "-A"}, {"commit", "--quiet", "-m", "files"}} {
		if _, err := g.Run(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	tree, err := g.Run(ctx, "ls-tree", "-r", "-z", "--full-tree", "HEAD", "--", "delivery.yaml", "environments")
	if err != nil {
		t.Fatal(err)
	}
	var paths, objects []string
	for p, o := range TreeBlobs(tree) {
		paths, objects = append(paths, p), append(objects, o)
	}
	if len(paths) != 5 {
		t.Fatalf("TreeBlobs gave %q; want delivery.yaml and the four environment files", paths)
	}
	objects = append(objects, strings.Repeat("0", 40), "HEAD:environments/dev/a b.yaml")
	blobs, err := g.CatFiles(ctx, objects)
	if err != nil {
		t.Fatal(err)
	}
	if len(blobs) != len(objects) {
		t.Fatalf("CatFiles gave %d contents for %d names", len(blobs), len(objects))
	}
	for i, p := range paths {
		if string(blobs[i]) != files[p] {
			t.Errorf("%q: %q; want %q", p, blobs[i], files[p])
		}
	}
	if blobs[5] != nil {
		t.Errorf("a missing object: %q; want nil", blobs[5])
	}
	if string(blobs[6]) != "with a space\n" {
		t.Errorf("HEAD:environments/dev/a b.yaml: %q", blobs[6])
	}
	if _, err := g.CatFiles(ctx, []string{"HEAD:a\nb"}); err == nil {
		t.Error("CatFiles took a name with a newline, which would read as two names")
	}
	if b, err := g.CatFiles(ctx, nil); b != nil || err != nil {
		t.Errorf("no names: %q, %v; want nothing and no git", b, err)
	}
}
