package layout

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/smp/delivery/internal/delivery"
)

// FuzzAppendService: whatever delivery.yaml it is given, AppendService
// either refuses it or returns a file that parses and lists the service.
func FuzzAppendService(f *testing.F) {
	cases, _ := filepath.Glob("testdata/appendservice/*/original.yaml")
	for _, c := range cases {
		b, err := os.ReadFile(c)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add("services: [] # x\n")
	f.Add("services:   ~\r\n")
	f.Fuzz(func(t *testing.T, src string) {
		out, err := AppendService([]byte(src), delivery.Service{Name: "fuzz-svc", Image: "ghcr.io/smp/fuzz-svc"})
		if err != nil {
			return
		}
		cfg, err := delivery.Parse(out)
		if err != nil {
			// The fallback re-encode may produce what the strict schema
			// refuses only if the input already was refused by it.
			if _, perr := delivery.Parse([]byte(src)); perr == nil {
				t.Fatalf("a valid config became invalid: %v\n%s", err, out)
			}
			return
		}
		if _, ok := cfg.Service("fuzz-svc"); !ok {
			t.Fatalf("service not listed:\n%s", out)
		}
	})
}
