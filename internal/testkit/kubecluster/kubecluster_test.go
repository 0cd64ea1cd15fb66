//go:build integration

package kubecluster_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/smp/delivery/internal/testkit/kubecluster"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// TestACluster starts one cluster with both engines, as the end-to-end
// story runs, checks what every cluster must hold (its figures, the network
// rule), and runs this package's scenarios on it side by side. One cluster,
// not one per scenario: each start costs a control plane's CPU (3.5-7.8
// CPU-s of its processes each, make test on 2026-12-07, four starts), and
// the scenarios touch objects of their own (namespaces, names, CRD groups).
func TestACluster(t *testing.T) {
	t.Parallel()
	// Start waits for the application controller's /healthz (inside the
	// network namespace), the ApplicationSet controller's /readyz, the
	// repository server and the Rollouts controller's /healthz.
	c := kubecluster.Start(t, kubecluster.WithRollouts(), kubecluster.WithArgoCD())
	logFigures(t, c)
	checkNetworkRule(t, c)
	t.Run("runs pods through KWOK", func(t *testing.T) { t.Parallel(); runsPodsThroughKWOK(t, c) })
	t.Run("Argo CD's CRDs are served", func(t *testing.T) { t.Parallel(); argoCDCRDsAreServed(t, c) })
	t.Run("Apply waits for CRDs and ends with the context when one never is Established", func(t *testing.T) {
		t.Parallel()
		applyWaitsForCRDs(t, c)
	})
	t.Run("order-svc blue/green pauses, then promotes, on the real Rollouts controller", func(t *testing.T) {
		t.Parallel()
		orderSvcBlueGreen(t, c)
	})
}

func runsPodsThroughKWOK(t *testing.T, c *kubecluster.Cluster) {
	ctx := testctx.New(t)
	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())

	v, err := cs.Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if v.GitVersion != "v1.34.4" {
		t.Errorf("apiserver reports %s, want v1.34.4 (the build's ldflags)", v.GitVersion)
	}
	// KWOK renews the node's Lease: the node lifecycle controller's
	// heartbeat. Without it the node goes not ready after 40s and takes
	// every pod's readiness with it.
	eventually(t, "the node's Lease in kube-node-lease", func() error {
		_, err := cs.CoordinationV1().Leases("kube-node-lease").Get(ctx, kubecluster.NodeName, metav1.GetOptions{})
		return err
	})

	replicas := int32(2)
	labels := map[string]string{"app": "hello"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "hello"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "hello", Image: "example.invalid/hello:1"}}},
			},
		},
	}
	if _, err := cs.AppsV1().Deployments("default").Create(ctx, d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deployment hello available with 2 ready pods", func() error {
		got, err := cs.AppsV1().Deployments("default").Get(ctx, "hello", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if got.Status.AvailableReplicas != 2 {
			return fmt.Errorf("%d of 2 replicas available", got.Status.AvailableReplicas)
		}
		return nil
	})
	pods, err := cs.CoreV1().Pods("default").List(ctx, metav1.ListOptions{LabelSelector: "app=hello"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName != kubecluster.NodeName || p.Status.Phase != corev1.PodRunning {
			t.Errorf("pod %s: on %q in phase %s, want Running on %s", p.Name, p.Spec.NodeName, p.Status.Phase, kubecluster.NodeName)
		}
	}
}

func argoCDCRDsAreServed(t *testing.T, c *kubecluster.Cluster) {
	ctx := testctx.New(t)
	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
	for _, crd := range []string{"applications.argoproj.io", "applicationsets.argoproj.io", "appprojects.argoproj.io"} {
		if err := cs.Discovery().RESTClient().Get().AbsPath("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd).Do(ctx).Error(); err != nil {
			t.Errorf("CRD %s: %v", crd, err)
		}
	}
}

// logFigures logs the cluster's start time and resident memory, per
// process and in total.
func logFigures(t *testing.T, c *kubecluster.Cluster) {
	t.Helper()
	var total int64
	var parts []string
	for _, p := range c.Processes() {
		rss, err := p.RSS()
		if err != nil {
			t.Error(err)
			continue
		}
		total += rss
		parts = append(parts, fmt.Sprintf("%s %d", p.Name, rss>>20))
	}
	t.Logf("cluster up (node Ready) in %s; RSS %d MiB in total (%s MiB)", c.UpIn().Round(time.Millisecond), total>>20, strings.Join(parts, ", "))
}

// checkNetworkRule checks that every TCP port a process of the cluster
// listens on in this machine's network namespace is on loopback, and that
// the processes that bind 0.0.0.0 run in a namespace of their own.
func checkNetworkRule(t *testing.T, c *kubecluster.Cluster) {
	t.Helper()
	// This thread's namespace, not /proc/self's (the main thread's): the
	// thread that made a sandbox may have been the main thread, which Go
	// parks, still inside, instead of ending it.
	self, err := os.Readlink("/proc/thread-self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range c.Processes() {
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", p.PID))
		if err != nil {
			t.Errorf("%s: %v", p.Name, err)
			continue
		}
		if p.InSandbox {
			if ns == self {
				t.Errorf("%s runs in this machine's network namespace, want its own", p.Name)
			}
			continue
		}
		addrs := listening(t, p.PID)
		for _, addr := range addrs {
			if !strings.HasPrefix(addr, "127.") && !strings.HasPrefix(addr, "[::1]") {
				t.Errorf("%s (pid %d) listens on %s, outside loopback", p.Name, p.PID, addr)
			}
		}
		if p.Name == "kube-apiserver" && len(addrs) == 0 {
			t.Errorf("found no port kube-apiserver listens on: is the check reading /proc right?")
		}
		t.Logf("%s listens on %v", p.Name, addrs)
	}
}

// listening returns the addresses pid listens on (TCP, IPv4 and IPv6).
func listening(t *testing.T, pid int) []string {
	t.Helper()
	inodes := map[string]bool{}
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if l, err := os.Readlink(fd); err == nil && strings.HasPrefix(l, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(l, "socket:["), "]")] = true
		}
	}
	var out []string
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			t.Fatal(err)
		}
		s := bufio.NewScanner(f)
		s.Scan() // header
		for s.Scan() {
			// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
			fields := strings.Fields(s.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
				continue
			}
			out = append(out, hexAddr(fields[1]))
		}
		_ = f.Close()
	}
	sort.Strings(out)
	return out
}

// hexAddr decodes /proc/net/tcp's "0100007F:1F90" (IPv4, little-endian
// words) or its 32-digit IPv6 form.
func hexAddr(s string) string {
	host, port, _ := strings.Cut(s, ":")
	p, _ := strconv.ParseUint(port, 16, 16)
	var b []byte
	for i := 0; i+8 <= len(host); i += 8 {
		w, _ := strconv.ParseUint(host[i:i+8], 16, 32)
		b = append(b, byte(w), byte(w>>8), byte(w>>16), byte(w>>24))
	}
	if len(b) == 4 {
		return fmt.Sprintf("%d.%d.%d.%d:%d", b[0], b[1], b[2], b[3], p)
	}
	if len(b) == 16 && string(b[:12]) == "\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\xff\xff" {
		return fmt.Sprintf("%d.%d.%d.%d:%d", b[12], b[13], b[14], b[15], p)
	}
	ip := make([]string, 0, 8)
	for i := 0; i+1 < len(b); i += 2 {
		ip = append(ip, strconv.FormatUint(uint64(b[i])<<8|uint64(b[i+1]), 16))
	}
	addr := "[" + strings.Join(ip, ":") + "]"
	if addr == "[0:0:0:0:0:0:0:1]" {
		addr = "[::1]"
	}
	return fmt.Sprintf("%s:%d", addr, p)
}

// BenchmarkClusterUp starts a cluster per iteration and reports how long
// the control plane took to come up (node Ready) and the cluster's
// resident memory. Each cluster runs until the benchmark ends: use
// -benchtime=Nx with a small N.
func BenchmarkClusterUp(b *testing.B) {
	var up time.Duration
	var rss int64
	for b.Loop() {
		c := kubecluster.Start(b)
		up += c.UpIn()
		for _, p := range c.Processes() {
			n, err := p.RSS()
			if err != nil {
				b.Fatal(err)
			}
			rss += n
		}
	}
	b.ReportMetric(up.Seconds()/float64(b.N), "s-up/op")
	b.ReportMetric(float64(rss>>20)/float64(b.N), "MiB-RSS/op")
}

// eventually is testctx.Eventually every 100ms, which also reports the last
// error that was not the deadline itself: a condition's API call made at
// the deadline fails with "context deadline exceeded", which says nothing.
func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	var last error
	testctx.Eventually(t, 100*time.Millisecond, what, func() error {
		err := cond()
		switch {
		case err == nil:
			return nil
		case !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled):
			last = err
			return err
		case last != nil:
			return fmt.Errorf("%w (before it: %w)", err, last)
		}
		return err
	})
}

// crdManifest is a namespaced CRD of the group smp.test, with no schema
// beyond preserving what it is given.
func crdManifest(plural, kind string) string {
	return `apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: ` + plural + `.smp.test}
spec:
  group: smp.test
  scope: Namespaced
  names: {plural: ` + plural + `, singular: ` + strings.ToLower(kind) + `, kind: ` + kind + `}
  versions:
  - name: v1
    served: true
    storage: true
    schema: {openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}}
`
}

// Apply waits for the CRDs of a stream before the objects after them, and
// a CRD that never becomes Established (its kind is taken by another CRD
// of its group) ends Apply when its context ends, naming the CRD, with
// nothing after it applied. The two-second context is the scenario: the
// CRD would wait forever.
func applyWaitsForCRDs(t *testing.T, c *kubecluster.Cluster) {
	ctx := testctx.New(t)
	widget := "apiVersion: smp.test/v1\nkind: Widget\nmetadata: {name: w1}\nspec: {size: 3}\n"
	if err := c.Apply(ctx, "default", []byte(crdManifest("widgets", "Widget")+"---\n"+widget)); err != nil {
		t.Fatalf("apply of a CRD and an object of its kind in one stream: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	after := "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: after-the-crd}\n"
	err := c.Apply(short, "default", []byte(crdManifest("gadgets", "Widget")+"---\n"+after))
	if err == nil || !strings.Contains(err.Error(), "CRDs gadgets.smp.test not Established") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("apply of a CRD whose kind is taken: %v; want it to name gadgets.smp.test and end with the context", err)
	}
	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
	if _, err := cs.CoreV1().ConfigMaps("default").Get(ctx, "after-the-crd", metav1.GetOptions{}); err == nil {
		t.Error("the ConfigMap after the CRD that never was Established was applied")
	}
}
