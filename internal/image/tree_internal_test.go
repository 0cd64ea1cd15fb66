package image

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/smp/delivery/internal/fault"
)

// TestALinkOutOfTheServiceTreeIsRefused: build walks the service's module
// and refuses a symbolic link that is absolute or leads out of it, in any
// package; links that stay inside it, and links where go build does not
// read (.git, testdata, _ and . directories), are fine.
func TestALinkOutOfTheServiceTreeIsRefused(t *testing.T) {
	t.Parallel()
	outside := filepath.Join(t.TempDir(), "credentials.go")
	if err := os.WriteFile(outside, []byte("package main\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	module := func(t *testing.T, links map[string]string) string {
		t.Helper()
		dir := t.TempDir()
		for name, body := range map[string]string{"go.mod": "module example.com/svc\n", "cmd/server/main.go": "package main\nfunc main() {}\n", "internal/x/x.go": "package x\n"} {
			mkfile(t, filepath.Join(dir, name), body)
		}
		for name, target := range links {
			if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	for _, tc := range []struct {
		name  string
		links map[string]string
		ok    bool
	}{
		{"no link", nil, true},
		{"a link inside the module", map[string]string{"cmd/server/shared.go": "../../internal/x/x.go", "internal/y": "../internal/x"}, true},
		{"links where go build does not read", map[string]string{".git/hooks/h": outside, "internal/x/testdata/f": outside, "_tools/t.go": outside}, true},
		{"an absolute link", map[string]string{"cmd/server/secret.go": outside}, false},
		{"a relative link out", map[string]string{"internal/x/up.go": "../../../../../../../../" + outside}, false},
		{"a directory linked out", map[string]string{"internal/etc": filepath.Dir(outside)}, false},
	} {
		dir := module(t, tc.links)
		o := &BuildOptions{Dir: filepath.Join(dir, "cmd/server")}
		err := o.checkTree()
		if tc.ok && err != nil {
			t.Errorf("%s: %v, want it built", tc.name, err)
		}
		if !tc.ok && (!errors.Is(err, ErrLinkOutOfTree) || !errors.Is(err, fault.ErrInvalid)) {
			t.Errorf("%s: err = %v, want ErrLinkOutOfTree (bad input, exit 2)", tc.name, err)
		}
	}
}

func mkfile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
}
