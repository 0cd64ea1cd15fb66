package engines

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// CacheName names the directory scripts/kube-bins.sh builds into: every
// pinned version, and the script's recipe number. A test in this package
// checks it against the script's own.
const CacheName = "k8s-1.34.4_etcd-3.6.16_kwok-0.8.0_rollouts-1.8.5_argocd-3.2.11_r1"

// DefaultBinDir is where scripts/kube-bins.sh puts the binaries when
// SMP_KUBE_BINS is not set: ${XDG_CACHE_HOME:-$HOME/.cache}/smp-delivery/kube/<CacheName>.
func DefaultBinDir() (string, error) {
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("locate the kube binaries: %w", err)
		}
		cache = filepath.Join(home, ".cache")
	}
	return filepath.Join(cache, "smp-delivery", "kube", CacheName), nil
}

// BinDirFromEnv is $SMP_KUBE_BINS, or DefaultBinDir: where
// scripts/kube-bins.sh builds. It is for the edges (the CLI, the test
// wrapper) to pass to WithBinDir.
func BinDirFromEnv() (string, error) {
	if d := os.Getenv("SMP_KUBE_BINS"); d != "" {
		return d, nil
	}
	return DefaultBinDir()
}

// bins is the layout scripts/kube-bins.sh writes.
type bins struct{ dir string }

func (b bins) bin(name string) string   { return filepath.Join(b.dir, "bin", name) }
func (b bins) stages() string           { return filepath.Join(b.dir, "kwok-stages") }
func (b bins) crds(group string) string { return filepath.Join(b.dir, "crds", group) }

// config is the directory of an engine's configuration objects as its
// install manifests ship them.
func (b bins) config(engine string) string { return filepath.Join(b.dir, "config", engine) }

// ErrMissingBinaries is returned by Start when a binary or a file it needs
// is not where scripts/kube-bins.sh puts it.
var ErrMissingBinaries = errors.New("the Kubernetes engines are not built")

// check returns an error naming the first missing file among what the
// options need, and the fix.
func (b bins) check(o options) error {
	need := []string{b.bin("etcd"), b.bin("kube-apiserver"), b.bin("kube-controller-manager"),
		b.bin("kube-scheduler"), b.bin("kwok"), b.stages()}
	if o.rollouts {
		need = append(need, b.bin("rollouts-controller"), b.crds("rollouts"))
	}
	if o.argoCD {
		need = append(need, b.bin("argocd"), b.bin("helm"), b.crds("argocd"), b.config("argocd"))
	}
	if o.argoCDCRDs {
		need = append(need, b.crds("argocd"))
	}
	if o.rolloutsCRDs {
		need = append(need, b.crds("rollouts"))
	}
	for _, f := range need {
		if _, err := os.Stat(f); err != nil {
			return fmt.Errorf("%w: %s is missing: run scripts/kube-bins.sh (scripts/tools.sh kube runs it), "+
				"which builds the pinned Kubernetes, KWOK, Argo Rollouts, Argo CD and helm into %s once per machine "+
				"(20-30 minutes cold on 2 cores), or point SMP_KUBE_BINS at a directory it built", ErrMissingBinaries, f, b.dir)
		}
	}
	return nil
}

// Check returns ErrMissingBinaries, naming the first missing file and how
// to build it, when Start with opts would: for a caller to fail before it
// prepares anything else.
func Check(opts ...Option) error {
	_, _, err := resolve(opts)
	return err
}

// resolve applies opts and checks the binaries they need.
func resolve(opts []Option) (options, bins, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.binDir == "" {
		d, err := DefaultBinDir()
		if err != nil {
			return o, bins{}, err
		}
		o.binDir = d
	}
	b := bins{dir: o.binDir}
	return o, b, b.check(o)
}
