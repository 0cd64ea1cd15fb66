package newservice

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	_ "embed" // the template archive
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"testing/fstest"
	"time"

	"github.com/smp/delivery/internal/fault"
)

// The template travels inside smpctl as template.tar.gz, generated from
// examples/order-svc (plus the platform's .github/settings.yml) by
// `go generate ./internal/newservice`. go:embed cannot reach it directly:
// examples/order-svc is another module (its own go.mod), and embed refuses
// files outside the package directory anyway. TestEmbeddedTemplateIsCurrent
// fails when the archive and examples/order-svc differ. --template DIR reads
// a source checkout instead (Dir), for a template under development.
//
//go:generate go run ./gentemplate
//go:embed template.tar.gz
var embedded []byte

// TemplateModule is the module path of the template, replaced by the new
// service's; TemplateName is the service name, replaced likewise.
const (
	TemplateModule = "github.com/smp/order-svc"
	TemplateName   = "order-svc"
)

// skip reports whether a template file is build output or a local
// artefact, never part of a service.
func skip(rel string, d fs.DirEntry) bool {
	base := path.Base(rel)
	switch {
	case d.IsDir() && (base == "bin" || base == ".cache" || base == "dist" || base == ".git"):
		return true
	case !d.IsDir() && (strings.HasSuffix(base, ".test") || base == "coverage.out" || strings.HasSuffix(base, ".out")):
		return true
	}
	return false
}

// Archive builds the template archive from a checkout of this repository:
// root/examples/order-svc, plus root/.github/settings.yml as the service's
// branch protection. The archive is deterministic (sorted, no times).
func Archive(root string) ([]byte, error) {
	files, err := readTree(os.DirFS(filepath.Join(root, "examples", TemplateName)))
	if err != nil {
		return nil, err
	}
	settings, err := os.ReadFile(filepath.Join(root, ".github", "settings.yml"))
	if err != nil {
		return nil, fmt.Errorf("read the platform's branch protection: %w", err)
	}
	files[".github/settings.yml"] = &fstest.MapFile{Data: settings, Mode: 0o644}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	tw := tar.NewWriter(gz)
	for _, n := range names {
		f := files[n]
		hdr := &tar.Header{Name: n, Mode: int64(f.Mode.Perm()), Size: int64(len(f.Data)), Typeflag: tar.TypeReg, ModTime: time.Unix(0, 0).UTC(), Format: tar.FormatPAX}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, fmt.Errorf("archive %s: %w", n, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("archive %s: %w", n, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	if err := gz.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func readTree(fsys fs.FS) (fstest.MapFS, error) {
	files := fstest.MapFS{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p != "." && skip(p, d) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("template file %s is not a regular file", p)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if info.Mode().Perm()&0o111 != 0 {
			mode = 0o755
		}
		files[p] = &fstest.MapFile{Data: b, Mode: mode}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	if _, ok := files["go.mod"]; !ok {
		return nil, fmt.Errorf("%w: no go.mod at the template's root", ErrTemplate)
	}
	return files, nil
}

// ErrTemplate is wrapped when the template is missing or unusable.
var ErrTemplate = fault.Invalidf("invalid service template")

// Embedded returns the template built into smpctl.
func Embedded() (fs.FS, error) { return unpack(embedded) }

// Dir returns the template from a checkout of this repository
// (root/examples/order-svc), e.g. while changing the reference service.
func Dir(root string) (fs.FS, error) {
	b, err := Archive(root)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTemplate, err)
	}
	return unpack(b)
}

func unpack(b []byte) (fs.FS, error) {
	gz, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTemplate, err)
	}
	tr := tar.NewReader(gz)
	files := fstest.MapFS{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTemplate, err)
		}
		if hdr.Typeflag != tar.TypeReg || !fs.ValidPath(hdr.Name) {
			return nil, fmt.Errorf("%w: entry %q is not a regular file with a clean relative path", ErrTemplate, hdr.Name)
		}
		data, err := io.ReadAll(io.LimitReader(tr, 16<<20))
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrTemplate, hdr.Name, err)
		}
		files[hdr.Name] = &fstest.MapFile{Data: data, Mode: hdr.FileInfo().Mode().Perm()}
	}
	if _, ok := files["go.mod"]; !ok {
		return nil, fmt.Errorf("%w: no go.mod at the template's root", ErrTemplate)
	}
	return files, nil
}
