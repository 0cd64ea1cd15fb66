package sbom_test

import (
	"bytes"
	"os"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/image/sbom"
)

func TestTheSBOMListsWhatTheBinaryLinkedAndIsDeterministic(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable() // this test binary carries Go build information
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 20, 9, 30, 0, 0, time.UTC)
	subj := sbom.Subject{Name: "order-svc", Version: "3.3.0", Commit: "abc1234", Time: at, Platform: "linux/amd64"}
	a, err := sbom.FromBinary(exe, subj)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sbom.FromBinary(exe, subj)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("two SBOMs of the same binary differ")
	}
	bom, err := sbom.Parse(a)
	if err != nil {
		t.Fatal(err)
	}
	c := bom.Metadata.Component
	if c.Name != "order-svc" || c.Version != "3.3.0" || len(sbom.BinarySHA256(bom)) != 64 || bom.Metadata.Timestamp != "2026-11-20T09:30:00Z" {
		t.Errorf("component %+v timestamp %s", c, bom.Metadata.Timestamp)
	}
	if !strings.HasPrefix(bom.SerialNumber, "urn:uuid:") || bom.SpecVersion.String() != "1.6" {
		t.Errorf("serial %s spec %s", bom.SerialNumber, bom.SpecVersion)
	}
	names := map[string]bool{}
	for _, comp := range *bom.Components {
		names[comp.Name] = true
	}
	for _, want := range []string{"stdlib"} {
		if !names[want] {
			t.Errorf("SBOM lacks %s", want)
		}
	}
}

func TestDependencyHashesAndReplacements(t *testing.T) {
	t.Parallel()
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.8", Path: "example.com/svc/cmd/server",
		Main: debug.Module{Path: "example.com/svc", Version: "(devel)"},
		Deps: []*debug.Module{
			{Path: "example.com/b", Version: "v1.0.0", Sum: "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
			{Path: "example.com/a", Version: "v0.1.0", Replace: &debug.Module{Path: "example.com/fork", Version: "v0.1.1"}},
		},
		Settings: []debug.BuildSetting{{Key: "-ldflags", Value: "-X main.secret=nope"}, {Key: "CGO_ENABLED", Value: "0"}},
	}
	doc, err := sbom.FromBuildInfo(bi, strings.Repeat("ab", 32), sbom.Subject{Time: time.Unix(0, 0)})
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	for _, want := range []string{
		`"pkg:golang/example.com/fork@v0.1.1"`, `"smp:replaces"`,
		`"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"`, // the h1 hash in hex
		`"name": "svc"`, `"smp:build:CGO_ENABLED"`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("SBOM lacks %s", want)
		}
	}
	if strings.Contains(s, "main.secret") {
		t.Error("the SBOM copied -ldflags")
	}
	if strings.Index(s, "example.com/fork") > strings.Index(s, "example.com/b\"") {
		t.Error("components are not sorted by path")
	}
	if _, err := sbom.Parse([]byte(`{"hello":"world"}`)); err == nil {
		t.Error("a JSON object that is not CycloneDX parsed")
	}
	if _, err := sbom.FromBinary("sbom_test.go", sbom.Subject{}); err == nil {
		t.Error("a Go source file read as a binary")
	}
}
