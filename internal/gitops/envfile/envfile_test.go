package envfile

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite testdata/<case>/expected from the editor's output")

var want = Values{
	Image: Image{
		Repository: "ghcr.io/smp/order-svc",
		Tag:        "3.3.0",
		Digest:     "sha256:" + strings.Repeat("2", 64),
	},
	ChartVersion: "0.2.0",
}

// TestGolden edits every testdata/<case>/original/values.yaml and compares
// the result byte for byte with testdata/<case>/expected/values.yaml.
func TestGolden(t *testing.T) {
	t.Parallel()
	cases, err := filepath.Glob("testdata/*/original/values.yaml")
	if err != nil || len(cases) == 0 {
		t.Fatalf("no golden cases: %v", err)
	}
	for _, orig := range cases {
		name := filepath.Base(filepath.Dir(filepath.Dir(orig)))
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			in, err := os.ReadFile(orig)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Set(in, want)
			if err != nil {
				t.Fatalf("Set: %v", err)
			}
			exp := filepath.Join("testdata", name, "expected", "values.yaml")
			if *update {
				if err := os.MkdirAll(filepath.Dir(exp), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(exp, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			wantBytes, err := os.ReadFile(exp)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/gitops/envfile -run TestGolden -update)", err)
			}
			if !bytes.Equal(got, wantBytes) {
				t.Errorf("edited file differs from %s\n--- got\n%s\n--- want\n%s", exp, got, wantBytes)
			}
			back, err := Read(got)
			if err != nil || back != want {
				t.Errorf("Read(edited) = %+v, %v; want %+v", back, err, want)
			}
			// Editing again with the same values changes nothing.
			again, err := Set(got, want)
			if err != nil || !bytes.Equal(again, got) {
				t.Errorf("second Set is not a no-op: err=%v\n%s", err, again)
			}
		})
	}
}

func TestSetKeepsCRLF(t *testing.T) {
	t.Parallel()
	in, err := os.ReadFile("testdata/crlf/original/values.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Set(in, want)
	if err != nil {
		t.Fatal(err)
	}
	if n, m := bytes.Count(out, []byte("\n")), bytes.Count(out, []byte("\r\n")); n != m {
		t.Errorf("%d line breaks but only %d are CRLF:\n%q", n, m, out)
	}
}

func TestSetWithoutChartVersionLeavesChartAlone(t *testing.T) {
	t.Parallel()
	in := []byte("image:\n  repository: r\n  tag: t1\n  digest: d\nchart:\n  version: 1.0.0\n")
	out, err := Set(in, Values{Image: Image{Repository: "r", Tag: "t2", Digest: "d"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != "image:\n  repository: r\n  tag: t2\n  digest: d\nchart:\n  version: 1.0.0\n" {
		t.Errorf("got %q", got)
	}
}

func TestBadFilesAreRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		is       error
	}{
		{"a file that is not YAML", "image: [unclosed\n", ErrNotYAML},
		{"a list instead of a mapping", "- a\n- b\n", ErrNotYAML},
		{"duplicate keys", "image: {}\nimage: {}\n", ErrNotYAML},
		{"an image that is a string", "image: ghcr.io/x:1\n", ErrUnsupported},
		{"a block scalar tag", "image:\n  repository: r\n  tag: |\n    1.0\n  digest: d\n", ErrUnsupported},
		{"an aliased tag", "v: &v 1.0.0\nimage:\n  repository: r\n  tag: *v\n  digest: d\n", ErrUnsupported},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Set([]byte(tc.in), want)
			if !errors.Is(err, tc.is) {
				t.Fatalf("Set error = %v, want %v", err, tc.is)
			}
		})
	}
}

// FuzzSet checks the editor never corrupts a file: whenever it accepts an
// input, the result parses, the owned fields read back as written, and every
// other key decodes exactly as before.
func FuzzSet(f *testing.F) {
	cases, _ := filepath.Glob("testdata/*/original/values.yaml")
	for _, c := range cases {
		b, _ := os.ReadFile(c)
		f.Add(b, "9.9.9", "ghcr.io/smp/x")
	}
	f.Add([]byte("image: {}\n"), "1.10", "r")
	f.Fuzz(func(t *testing.T, in []byte, tag, repo string) {
		v := Values{Image: Image{Repository: repo, Tag: tag, Digest: "sha256:" + strings.Repeat("a", 64)}, ChartVersion: "1.0.0"}
		out, err := Set(in, v)
		if err != nil {
			return
		}
		got, err := Read(out)
		if err != nil {
			t.Fatalf("result does not parse: %v\n%q", err, out)
		}
		if got != v {
			t.Fatalf("read back %+v, want %+v\n%q", got, v, out)
		}
		var a, b map[string]any
		if yaml.Unmarshal(in, &a) != nil || yaml.Unmarshal(out, &b) != nil {
			t.Fatalf("decode failed\n%q\n%q", in, out)
		}
		if anchoredOwned(in) {
			return
		}
		for _, k := range []string{"image", "chart"} {
			delete(a, k)
			delete(b, k)
		}
		if len(a)+len(b) > 0 && !reflect.DeepEqual(a, b) {
			t.Fatalf("other keys changed:\n%q\n%q", in, out)
		}
	})
}

func TestSetQuotesATagThatWouldReadAsANumber(t *testing.T) {
	t.Parallel()
	in := []byte("image:\n  repository: r\n  tag: 1.9\n  digest: d\n")
	out, err := Set(in, Values{Image: Image{Repository: "r", Tag: "1.10", Digest: "d"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != "image:\n  repository: r\n  tag: \"1.10\"\n  digest: d\n" {
		t.Errorf("got %q", got)
	}
}
