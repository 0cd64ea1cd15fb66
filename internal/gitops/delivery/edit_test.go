package delivery

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/<case>/expected from the editor's output")

var (
	goldenService = Service{Name: "partner-svc", Image: "ghcr.io/smp/partner-svc", Critical: true}
	goldenFreeze  = Freeze{
		Name: "migration", Reason: "DB migration, phase 2: #42", Environments: []string{"prod", "staging"},
		TimeZone: "Asia/Ho_Chi_Minh", From: ptr(time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)), Until: ptr(time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)),
	}
)

func ptr[T any](v T) *T { return &v }

// goldenEdit is the edit a golden case makes, chosen by its name's prefix.
func goldenEdit(name string, src []byte) ([]byte, error) {
	switch {
	case strings.HasPrefix(name, "add-service-"):
		return AddService(src, goldenService)
	case strings.HasPrefix(name, "add-freeze-"):
		return AddFreeze(src, goldenFreeze)
	case strings.HasPrefix(name, "remove-freeze-"):
		return RemoveFreeze(src, "weekend-prod")
	}
	panic("golden case " + name + " has no add-service-, add-freeze- or remove-freeze- prefix")
}

// TestGoldenEdits edits every testdata/<case>/original/delivery.yaml and
// compares the result byte for byte with testdata/<case>/expected.
func TestGoldenEdits(t *testing.T) {
	t.Parallel()
	cases, err := filepath.Glob("testdata/*/original/delivery.yaml")
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
			got, err := goldenEdit(name, in)
			if err != nil {
				t.Fatalf("edit: %v", err)
			}
			exp := filepath.Join("testdata", name, "expected", "delivery.yaml")
			if *update {
				if err := os.WriteFile(exp, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(exp)
			if err != nil {
				t.Fatalf("%v (run go test ./internal/gitops/delivery -run TestGoldenEdits -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("edited file differs from %s\n--- got\n%s\n--- want\n%s", exp, got, want)
			}
			if bytes.Contains(in, []byte("\r\n")) {
				if n, m := bytes.Count(got, []byte("\n")), bytes.Count(got, []byte("\r\n")); n != m {
					t.Errorf("%d line breaks but only %d are CRLF", n, m)
				}
			}
			if !strings.Contains(name, "flow") && !onlyOneSideChanged(string(in), string(got)) {
				t.Errorf("the edit changed existing lines instead of only adding or only removing:\n%s", got)
			}
		})
	}
}

// onlyOneSideChanged reports whether b is a with lines only added, or only
// removed, except that a list's key line may gain or lose its empty value
// ("[]", "~").
func onlyOneSideChanged(a, b string) bool {
	sub := func(short, long []string) bool {
		j := 0
		for _, l := range short {
			for j < len(long) && long[j] != l && norm(long[j]) != norm(l) {
				j++
			}
			if j == len(long) {
				return false
			}
			j++
		}
		return true
	}
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	return sub(al, bl) || sub(bl, al)
}

func norm(l string) string {
	for _, empty := range []string{" []", "[]", " ~", "~"} {
		if i := strings.Index(l, empty); i >= 0 && strings.HasSuffix(strings.TrimSpace(l[:i]), ":") {
			l = l[:i] + l[i+len(empty):]
			break
		}
	}
	return strings.TrimRight(strings.SplitN(l, "#", 2)[0], " \t\r")
}

func TestRemoveFreezeNamesTheOnesThereAre(t *testing.T) {
	t.Parallel()
	_, err := RemoveFreeze([]byte("freezes:\n  - {name: a, environments: [prod]}\n"), "b")
	if !errors.Is(err, ErrNoFreeze) || !strings.Contains(err.Error(), `no freeze named "b" in delivery.yaml (freezes: a)`) {
		t.Fatalf("err = %v", err)
	}
}

func TestEditsRefuseWhatTheyCannotKeep(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		is       error
	}{
		{"an empty flow list over two lines", "services: [\n]\n", ErrUnsupported},
		{"a delivery.yaml in flow style", "{kind: Delivery}\n", ErrUnsupported},
		{"a newer format", "version: 5\nservices: []\n", ErrNewerFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := AddService([]byte(tc.in), goldenService)
			if !errors.Is(err, tc.is) {
				t.Fatalf("AddService error = %v, want %v", err, tc.is)
			}
		})
	}
}

// FuzzEdit checks the delivery.yaml editor never writes a file that reads
// back as anything but the intended change: whenever it accepts an input,
// the result parses to the old config plus the service or freeze (edit
// checks that itself; the fuzzer makes sure no input gets past it).
func FuzzEdit(f *testing.F) {
	cases, _ := filepath.Glob("testdata/*/original/delivery.yaml")
	for _, c := range cases {
		b, _ := os.ReadFile(c)
		f.Add(b, uint8(0))
		f.Add(b, uint8(1))
		f.Add(b, uint8(2))
	}
	f.Fuzz(func(t *testing.T, in []byte, op uint8) {
		var out []byte
		var err error
		switch op % 3 {
		case 0:
			out, err = AddService(in, goldenService)
		case 1:
			out, err = AddFreeze(in, goldenFreeze)
		default:
			out, err = RemoveFreeze(in, "weekend-prod")
		}
		if err != nil {
			return
		}
		before, err := Parse(in)
		if err != nil {
			t.Fatalf("accepted an input that does not parse: %q", in)
		}
		after, err := Parse(out)
		if err != nil {
			t.Fatalf("result does not parse: %v\n%q", err, out)
		}
		switch op % 3 {
		case 0:
			if len(after.Services) != len(before.Services)+1 {
				t.Fatalf("services %d → %d", len(before.Services), len(after.Services))
			}
		case 1:
			if len(after.Freezes) != len(before.Freezes)+1 {
				t.Fatalf("freezes %d → %d", len(before.Freezes), len(after.Freezes))
			}
		default:
			if len(after.Freezes) != len(before.Freezes)-1 {
				t.Fatalf("freezes %d → %d", len(before.Freezes), len(after.Freezes))
			}
		}
	})
}
