// Package newservice creates a new SMP service repository from the
// reference service (examples/order-svc): the same layout, build, tests,
// migrations, API spec and workflows, renamed — module path, service name
// in code, chart, image and workflows — so that it builds and passes its own
// tests as generated, and its CD deploys it under its own name.
package newservice

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"

	"golang.org/x/mod/module"

	"github.com/smp/delivery/internal/fault"
)

// ErrInvalid is wrapped for bad options (exit 2).
var ErrInvalid = fault.Invalidf("invalid new service")

// ErrExists is wrapped when the output directory already has files.
var ErrExists = fault.Invalidf("output directory is not empty")

// Options say what to create.
type Options struct {
	// Name is the service name: a DNS label (it names the image, the chart,
	// the Kubernetes objects and the GitOps files).
	Name string
	// Module is the Go module path, e.g. github.com/smp/payment-svc.
	Module string
	// Critical services run blue/green in prod and are smoke-tested on
	// the preview service before promotion.
	Critical bool
	// Dir is where the repository is written; it must not exist or be empty.
	Dir string
}

var dnsLabel = regexp.MustCompile(`^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`)

// Validate checks the options and says how to fix them.
func (o Options) Validate() error {
	var errs []error
	if !dnsLabel.MatchString(o.Name) {
		errs = append(errs, fmt.Errorf("service name %q: use lower-case letters, digits and '-', starting with a letter, at most 63 characters (e.g. payment-svc)", o.Name))
	}
	if err := module.CheckPath(o.Module); err != nil {
		errs = append(errs, fault.Inputf("Module", "module path %q: %w (e.g. github.com/smp/%s)", o.Module, err, o.Name))
	}
	if o.Dir == "" {
		errs = append(errs, errors.New("no output directory"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalid, errors.Join(errs...))
	}
	return nil
}

// Result lists what Generate wrote.
type Result struct {
	Dir   string   `json:"dir"`
	Name  string   `json:"name"`
	Files []string `json:"files"`
}

// Check validates o and that o.Dir can be written, without writing.
func Check(o Options) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if entries, err := os.ReadDir(o.Dir); err == nil && len(entries) > 0 {
		return fault.Inputf("Dir", "%w: %s has %d entries; choose a new directory", ErrExists, o.Dir, len(entries))
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("check %s: %w", o.Dir, err)
	}
	return nil
}

// Generate writes the new service into o.Dir from tmpl. It writes into a
// temporary sibling directory and renames it into place at the end, so a
// failure leaves nothing behind.
func Generate(tmpl fs.FS, o Options) (*Result, error) {
	if err := Check(o); err != nil {
		return nil, err
	}
	files, err := render(tmpl, o)
	if err != nil {
		return nil, err
	}
	parent := filepath.Dir(filepath.Clean(o.Dir))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", parent, err)
	}
	tmp, err := os.MkdirTemp(parent, ".smpctl-new-"+o.Name+"-")
	if err != nil {
		return nil, fmt.Errorf("create a working directory in %s: %w", parent, err)
	}
	defer os.RemoveAll(tmp) //nolint:errcheck // gone after the rename; cleanup after a failure
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := files[n]
		p := filepath.Join(tmp, filepath.FromSlash(n))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return nil, fmt.Errorf("write %s: %w", n, err)
		}
		if err := os.WriteFile(p, f.data, f.mode); err != nil {
			return nil, fmt.Errorf("write %s: %w", n, err)
		}
	}
	// An existing empty directory is replaced by the complete tree.
	if err := os.Remove(o.Dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("replace %s: %w", o.Dir, err)
	}
	if err := os.Rename(tmp, o.Dir); err != nil {
		return nil, fmt.Errorf("move the new service into %s: %w", o.Dir, err)
	}
	return &Result{Dir: o.Dir, Name: o.Name, Files: names}, nil
}

type file struct {
	data []byte
	mode fs.FileMode
}

// render returns the renamed files of the new service.
func render(tmpl fs.FS, o Options) (map[string]file, error) {
	nodash := strings.ReplaceAll(o.Name, "-", "")
	// One pass, longest and most specific first, so a replacement is never
	// replaced again (a module path containing the old name stays intact).
	r := strings.NewReplacer(
		TemplateModule, o.Module,
		TemplateName, o.Name,
		strings.ReplaceAll(TemplateName, "-", ""), nodash,
		strings.ReplaceAll(TemplateName, "-", "_"), strings.ReplaceAll(o.Name, "-", "_"),
	)
	out := map[string]file{}
	err := fs.WalkDir(tmpl, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(tmpl, p)
		if err != nil {
			return fmt.Errorf("%w: %s: %w", ErrTemplate, p, err)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		name := r.Replace(p)
		if isText(data) {
			data = []byte(r.Replace(string(data)))
		}
		if name == ".github/workflows/cd.yml" {
			if data, err = setCritical(data, o.Critical); err != nil {
				return err
			}
		}
		if name == "deployments/helm/"+o.Name+"/values-prod.yaml" && !o.Critical {
			// Only critical services pay for blue/green (docs/seed.md §8).
			data = []byte(strings.Replace(string(data), "\nstrategy: blueGreen\n", "\nstrategy: rolling\n", 1))
		}
		out[name] = file{data: data, mode: info.Mode().Perm() | 0o600}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if _, ok := out["go.mod"]; !ok {
		return nil, fmt.Errorf("%w: no go.mod", ErrTemplate)
	}
	out[".github/CODEOWNERS"] = file{mode: 0o644, data: []byte(fmt.Sprintf(
		"# One approval from the owners is required on every pull request\n"+
			"# (branch protection: .github/settings.yml). Replace with the owning team.\n"+
			"*  @smp/%s-owners\n", o.Name))}
	return out, nil
}

// setCritical sets the CD workflow's `critical:` input; a service that is
// not critical deploys to prod with a rolling update and has no preview
// URL to smoke-test.
func setCritical(data []byte, critical bool) ([]byte, error) {
	lines := strings.SplitAfter(string(data), "\n")
	found := false
	var out []string
	for _, l := range lines {
		trimmed := strings.TrimSpace(l)
		switch {
		case strings.HasPrefix(trimmed, "critical:"):
			found = true
			out = append(out, l[:strings.Index(l, "critical:")]+fmt.Sprintf("critical: %t\n", critical))
			continue
		case strings.HasPrefix(trimmed, "prod-preview-url:") && !critical:
			continue
		}
		out = append(out, l)
	}
	if !found {
		return nil, fmt.Errorf("%w: .github/workflows/cd.yml has no critical: input to set", ErrTemplate)
	}
	return []byte(strings.Join(out, "")), nil
}

// isText: only text files are renamed; binary ones are copied as they are.
func isText(b []byte) bool { return !bytes.ContainsRune(b, 0) && utf8.Valid(b) }
