package newservice

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// repoRoot is two levels above this package's directory, where go test
// runs its tests (not runtime.Caller: make test builds with -trimpath).
func repoRoot(t testing.TB) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestEmbeddedTemplateIsCurrent fails when examples/order-svc changed and
// the archive built into smpctl was not regenerated.
func TestEmbeddedTemplateIsCurrent(t *testing.T) {
	t.Parallel()
	disk, err := Dir(repoRoot(t))
	if err != nil {
		t.Fatal(err)
	}
	emb, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	a, b := contents(t, disk), contents(t, emb)
	var stale []string
	for n, d := range a {
		if e, ok := b[n]; !ok || !bytes.Equal(d, e) {
			stale = append(stale, n)
		}
	}
	for n := range b {
		if _, ok := a[n]; !ok {
			stale = append(stale, n+" (deleted)")
		}
	}
	sort.Strings(stale)
	if len(stale) > 0 {
		t.Fatalf("the built-in template differs from examples/order-svc in %d files (%s); run: go generate ./internal/newservice",
			len(stale), strings.Join(stale[:min(len(stale), 5)], ", "))
	}
}

func contents(t *testing.T, fsys fs.FS) map[string][]byte {
	t.Helper()
	m := map[string][]byte{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		m[p], err = fs.ReadFile(fsys, p)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestGeneratedServiceKeepsNoTraceOfTheTemplate(t *testing.T) {
	t.Parallel()
	tmpl, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "pay")
	res, err := Generate(tmpl, Options{Name: "payment-svc", Module: "github.com/acme/payments", Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Files) < 20 {
		t.Fatalf("generated %d files; the template has more", len(res.Files))
	}
	for _, n := range res.Files {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			t.Fatal(err)
		}
		for _, old := range []string{TemplateModule, TemplateName, "ordersvc", "order_svc"} {
			if strings.Contains(n, old) || bytes.Contains(b, []byte(old)) {
				t.Errorf("%s still mentions %q", n, old)
			}
		}
	}
	for _, want := range []string{"go.mod", ".github/workflows/ci.yml", ".github/workflows/cd.yml", ".github/settings.yml", ".github/CODEOWNERS", "cmd/server/main.go"} {
		if _, err := os.Stat(filepath.Join(dir, want)); err != nil {
			t.Errorf("the new service has no %s", want)
		}
	}
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	if !strings.HasPrefix(string(gomod), "module github.com/acme/payments\n") {
		t.Errorf("go.mod starts %q", strings.SplitN(string(gomod), "\n", 2)[0])
	}
}

func TestBadOptionsWriteNothing(t *testing.T) {
	t.Parallel()
	tmpl, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	base := t.TempDir()
	tests := []struct {
		name string
		o    Options
		want error
	}{
		{"an upper-case name", Options{Name: "Pay", Module: "github.com/smp/pay"}, ErrInvalid},
		{"a name with an underscore", Options{Name: "pay_svc", Module: "github.com/smp/pay"}, ErrInvalid},
		{"a name ending in a dash", Options{Name: "pay-", Module: "github.com/smp/pay"}, ErrInvalid},
		{"a 64-character name", Options{Name: "a" + strings.Repeat("b", 63), Module: "github.com/smp/pay"}, ErrInvalid},
		{"a module path with a space", Options{Name: "pay", Module: "github.com/smp/pay svc"}, ErrInvalid},
		{"an empty module path", Options{Name: "pay", Module: ""}, ErrInvalid},
	}
	for i, tc := range tests {
		tc.o.Dir = filepath.Join(base, "out", string(rune('a'+i)))
		_, err := Generate(tmpl, tc.o)
		if !errors.Is(err, tc.want) {
			t.Errorf("%s: error = %v, want %v", tc.name, err, tc.want)
		}
		if _, serr := os.Stat(tc.o.Dir); serr == nil {
			t.Errorf("%s: %s was created", tc.name, tc.o.Dir)
		}
	}
	taken := filepath.Join(base, "taken")
	if err := os.MkdirAll(taken, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(taken, "x"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(tmpl, Options{Name: "pay", Module: "github.com/smp/pay", Dir: taken}); !errors.Is(err, ErrExists) {
		t.Fatalf("error = %v, want ErrExists", err)
	}
	entries, _ := os.ReadDir(base)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".smpctl-new-") {
			t.Errorf("a working directory %s was left behind", e.Name())
		}
	}
}

func TestCriticalDecidesBlueGreen(t *testing.T) {
	t.Parallel()
	src := []byte("    with:\n      critical: true\n      prod-url: https://api\n      prod-preview-url: https://preview\n")
	got, err := setCritical(src, false)
	if err != nil || string(got) != "    with:\n      critical: false\n      prod-url: https://api\n" {
		t.Fatalf("setCritical(false) = %q, %v", got, err)
	}
	got, err = setCritical(src, true)
	if err != nil || string(got) != string(src) {
		t.Fatalf("setCritical(true) = %q, %v", got, err)
	}
	if _, err := setCritical([]byte("on: push\n"), true); !errors.Is(err, ErrTemplate) {
		t.Fatalf("a cd.yml without critical: gave %v, want ErrTemplate", err)
	}
}

func TestACorruptTemplateIsRefused(t *testing.T) {
	t.Parallel()
	if _, err := unpack([]byte("not gzip")); !errors.Is(err, ErrTemplate) {
		t.Fatalf("error = %v, want ErrTemplate", err)
	}
	if _, err := Dir(t.TempDir()); !errors.Is(err, ErrTemplate) {
		t.Fatalf("a checkout without examples/order-svc gave %v, want ErrTemplate", err)
	}
}
