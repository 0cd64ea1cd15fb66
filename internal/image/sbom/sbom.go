// Package sbom writes a CycloneDX software bill of materials for a Go binary
// from the build information the Go linker embeds in it (module path and
// version, every dependency with its go.sum hash, the Go version and build
// settings). Reading the binary, not go.mod, lists exactly what was linked.
//
// The document is deterministic: its serial number derives from the binary's
// SHA-256 and its timestamp is the one given (the commit time), so the same
// commit yields the same SBOM, byte for byte.
package sbom

import (
	"bytes"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/smp/delivery/internal/fault"
)

// MediaType is the IANA media type of a CycloneDX JSON document; it is also
// the artifact type of the SBOM referrer attached to an image.
const MediaType = "application/vnd.cyclonedx+json"

// ErrNoBuildInfo marks a file that is not a Go binary with build information.
var ErrNoBuildInfo = fault.Invalidf("no Go build information")

// Subject describes what the SBOM is about beyond the binary itself.
type Subject struct {
	// Name of the service (e.g. order-svc); default: the last element of the main module path.
	Name string
	// Version baked into the binary (main.version).
	Version string
	// Commit is the source commit.
	Commit string
	// Time stamps the document (the commit time, for reproducibility).
	Time time.Time
	// Platform is os/arch of the binary.
	Platform string
}

// FromBinary reads the Go build information of the binary at path and
// returns a CycloneDX 1.6 JSON document.
func FromBinary(path string, s Subject) ([]byte, error) {
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read build info of %s: %w: %w", path, ErrNoBuildInfo, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("hash %s: %w", path, err)
	}
	return FromBuildInfo(bi, hex.EncodeToString(h.Sum(nil)), s)
}

// FromBuildInfo builds the document from parsed build information;
// binarySHA256 is the hex digest of the binary.
func FromBuildInfo(bi *debug.BuildInfo, binarySHA256 string, s Subject) ([]byte, error) {
	mainPath := bi.Main.Path
	if mainPath == "" {
		mainPath = bi.Path
	}
	name := s.Name
	if name == "" {
		name = mainPath[strings.LastIndexByte(mainPath, '/')+1:]
	}
	version := s.Version
	if version == "" {
		version = bi.Main.Version
	}
	mainRef := purl(mainPath, version)
	props := []cdx.Property{{Name: "smp:go-version", Value: bi.GoVersion}, {Name: "smp:package", Value: bi.Path}}
	if s.Commit != "" {
		props = append(props, cdx.Property{Name: "smp:commit", Value: s.Commit})
	}
	if s.Platform != "" {
		props = append(props, cdx.Property{Name: "smp:platform", Value: s.Platform})
	}
	for _, st := range bi.Settings {
		if st.Key == "-ldflags" {
			continue // carries the version and commit again, and may carry anything else
		}
		props = append(props, cdx.Property{Name: "smp:build:" + st.Key, Value: st.Value})
	}
	main := &cdx.Component{
		BOMRef:     mainRef,
		Type:       cdx.ComponentTypeApplication,
		Name:       name,
		Version:    version,
		PackageURL: mainRef,
		Hashes:     &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: binarySHA256}},
		Properties: &props,
	}
	var comps []cdx.Component
	var refs []string
	deps := append([]*debug.Module(nil), bi.Deps...)
	sort.Slice(deps, func(i, j int) bool { return deps[i].Path < deps[j].Path })
	for _, d := range deps {
		m := d
		if d.Replace != nil {
			m = d.Replace
		}
		ref := purl(m.Path, m.Version)
		c := cdx.Component{BOMRef: ref, Type: cdx.ComponentTypeLibrary, Name: m.Path, Version: m.Version, PackageURL: ref, Scope: cdx.ScopeRequired}
		if sum := h1ToHex(m.Sum); sum != "" {
			c.Hashes = &[]cdx.Hash{{Algorithm: cdx.HashAlgoSHA256, Value: sum}}
		}
		if d.Replace != nil {
			c.Properties = &[]cdx.Property{{Name: "smp:replaces", Value: purl(d.Path, d.Version)}}
		}
		comps = append(comps, c)
		refs = append(refs, ref)
	}
	goRef := "pkg:golang/stdlib@" + strings.TrimPrefix(bi.GoVersion, "go")
	comps = append(comps, cdx.Component{BOMRef: goRef, Type: cdx.ComponentTypeLibrary, Name: "stdlib", Version: bi.GoVersion, PackageURL: goRef, Scope: cdx.ScopeRequired})
	refs = append(refs, goRef)

	bom := cdx.NewBOM()
	bom.SerialNumber = serial(binarySHA256)
	bom.Metadata = &cdx.Metadata{
		Timestamp: s.Time.UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "smpctl", Group: "github.com/smp/delivery",
		}}},
		Component: main,
	}
	bom.Components = &comps
	depList := []cdx.Dependency{{Ref: mainRef, Dependencies: &refs}}
	bom.Dependencies = &depList

	var buf bytes.Buffer
	enc := cdx.NewBOMEncoder(&buf, cdx.BOMFileFormatJSON).SetPretty(true)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		return nil, fmt.Errorf("encode CycloneDX: %w", err)
	}
	return buf.Bytes(), nil
}

// Parse decodes a CycloneDX JSON document and checks it names a component.
func Parse(b []byte) (*cdx.BOM, error) {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(b), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return nil, fmt.Errorf("decode CycloneDX: %w", err)
	}
	if bom.BOMFormat != cdx.BOMFormat || bom.Metadata == nil || bom.Metadata.Component == nil {
		return nil, fmt.Errorf("not a CycloneDX SBOM of a component (bomFormat %q)", bom.BOMFormat)
	}
	return &bom, nil
}

// BinarySHA256 returns the SHA-256 the SBOM records for its main component.
func BinarySHA256(bom *cdx.BOM) string {
	if bom.Metadata == nil || bom.Metadata.Component == nil || bom.Metadata.Component.Hashes == nil {
		return ""
	}
	for _, h := range *bom.Metadata.Component.Hashes {
		if h.Algorithm == cdx.HashAlgoSHA256 {
			return h.Value
		}
	}
	return ""
}

func purl(path, version string) string {
	if version == "" || version == "(devel)" {
		return "pkg:golang/" + path
	}
	return "pkg:golang/" + path + "@" + version
}

// h1ToHex converts a go.sum "h1:" hash (base64 SHA-256 of the module's
// file list) to the hex form CycloneDX expects.
func h1ToHex(sum string) string {
	b, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sum, "h1:"))
	if err != nil || !strings.HasPrefix(sum, "h1:") || len(b) != sha256.Size {
		return ""
	}
	return hex.EncodeToString(b)
}

// serial derives an RFC 4122 version 5-style URN from the binary's digest so
// that rebuilding the same commit gives the same document.
func serial(binarySHA256 string) string {
	s := sha256.Sum256([]byte("smpctl-sbom:" + binarySHA256))
	s[6] = (s[6] & 0x0f) | 0x50
	s[8] = (s[8] & 0x3f) | 0x80
	x := hex.EncodeToString(s[:16])
	return fmt.Sprintf("urn:uuid:%s-%s-%s-%s-%s", x[0:8], x[8:12], x[12:16], x[16:20], x[20:32])
}
