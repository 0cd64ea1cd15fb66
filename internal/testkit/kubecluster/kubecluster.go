// Package kubecluster gives a test a real Kubernetes cluster of its own in
// seconds: the engines of internal/local/engines (etcd, the Kubernetes
// control plane, KWOK for the kubelet, and on request Argo Rollouts and
// Argo CD), started in the test's temporary directory, with the test's
// deadline bounding every wait, and stopped by PID when the test ends.
//
//	c := kubecluster.Start(t, kubecluster.WithRollouts())
//	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
//
// The binaries come from $SMP_KUBE_BINS or where scripts/kube-bins.sh
// builds them; a test fails, saying how to build them, when they are
// missing. On failure every component's log is printed.
package kubecluster

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/local/engines"
	"github.com/smp/delivery/internal/testkit/proctest"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// NodeName is the fake node every cluster has; KWOK keeps it Ready.
const NodeName = engines.NodeName

// ArgoCDNamespace is where Argo CD's components look for their
// configuration and Applications.
const ArgoCDNamespace = engines.ArgoCDNamespace

// FieldManager is the field manager of every write Cluster.Apply makes.
const FieldManager = engines.FieldManager

// CacheName names the directory scripts/kube-bins.sh builds into.
const CacheName = engines.CacheName

// Cluster is a running cluster (see engines.Cluster).
type Cluster = engines.Cluster

// Process is one process of a cluster.
type Process = engines.Process

// Option changes what Start starts.
type Option = engines.Option

// WithRollouts also starts the Argo Rollouts controller (engines.WithRollouts).
func WithRollouts() Option { return engines.WithRollouts() }

// WithArgoCD also starts Argo CD (engines.WithArgoCD).
func WithArgoCD() Option { return engines.WithArgoCD() }

// WithRolloutsCRDs applies Argo Rollouts' CRDs without starting its
// controller (engines.WithRolloutsCRDs).
func WithRolloutsCRDs() Option { return engines.WithRolloutsCRDs() }

// WithArgoCDCRDs applies Argo CD's CRDs without starting it
// (engines.WithArgoCDCRDs).
func WithArgoCDCRDs() Option { return engines.WithArgoCDCRDs() }

// DefaultBinDir is where scripts/kube-bins.sh puts the binaries when
// SMP_KUBE_BINS is not set.
func DefaultBinDir() (string, error) { return engines.DefaultBinDir() }

// Start starts a cluster for t in a temporary directory and waits until it
// is up (engines.Start), within t's deadline. It fails t if anything does
// not come up; the cluster stops when t ends, and when t failed every
// component's log is printed.
func Start(t testing.TB, opts ...Option) *Cluster {
	t.Helper()
	bin, err := engines.BinDirFromEnv()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// The net under the PIDs: nothing should still run from dir once the
	// cluster stopped, and a cluster that failed to start stopped itself.
	t.Cleanup(func() { proctest.KillUnder(dir) })
	c, err := engines.Start(testctx.New(t), dir, append([]Option{engines.WithBinDir(bin)}, opts...)...)
	if err != nil {
		logTails(t, dir)
		t.Fatalf("kubecluster: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("kubecluster: %v", err)
		}
		logCPU(t, c)
		if t.Failed() {
			for _, p := range c.Processes() {
				t.Logf("kubecluster: %s (pid %d) log, the last 200 lines:\n%s", p.Name, p.PID, p.LogTail(200))
			}
		}
	})
	t.Logf("kubecluster: up in %s (node Ready, default ServiceAccount); kubeconfig %s", c.UpIn().Round(time.Millisecond), c.Kubeconfig())
	return c
}

// logCPU logs the CPU each component used over the cluster's life, most
// first: what a test's cluster costs make test, and which component to tune.
func logCPU(t testing.TB, c *Cluster) {
	t.Helper()
	type use struct {
		name string
		cpu  time.Duration
	}
	var uses []use
	var total time.Duration
	for _, p := range c.Processes() {
		if cpu, ok := p.CPU(); ok {
			uses = append(uses, use{p.Name, cpu})
			total += cpu
		}
	}
	sort.Slice(uses, func(i, j int) bool { return uses[i].cpu > uses[j].cpu })
	parts := make([]string, len(uses))
	for i, u := range uses {
		parts[i] = fmt.Sprintf("%s %.1fs", u.name, u.cpu.Seconds())
	}
	t.Logf("kubecluster: CPU used by its processes: %.1fs (%s)", total.Seconds(), strings.Join(parts, ", "))
}

// logTails logs the end of every component log in dir/logs: a cluster
// that did not come up has stopped itself, and its logs say why.
func logTails(t testing.TB, dir string) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(dir, "logs", "*.log"))
	for _, l := range logs {
		b, err := os.ReadFile(l)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
		if len(lines) > 200 {
			lines = lines[len(lines)-200:]
		}
		t.Logf("kubecluster: %s, the last 200 lines:\n%s", filepath.Base(l), strings.Join(lines, "\n"))
	}
}
