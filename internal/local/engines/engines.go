// Package engines runs the real engines SMP delivers to on this machine:
// a Kubernetes cluster of its own — etcd, kube-apiserver,
// kube-controller-manager and kube-scheduler (Kubernetes v1.34.4), with
// KWOK standing in for the kubelet (nodes and pods are data that KWOK moves
// through their stages: pods become Running and Ready, Job pods Succeed; no
// container ever runs) — and on request the Argo Rollouts controller and
// Argo CD. smpctl demo --engines kubernetes walks the delivery story on it,
// and the cluster tests start it through internal/testkit/kubecluster.
//
// The binaries are the pinned, source-built ones scripts/kube-bins.sh
// caches once per machine (docs/kubernetes.md); Start returns
// ErrMissingBinaries, saying how to build them, when they are missing.
//
// Each cluster is fresh: its own CA and credentials, etcd data and ports,
// all under the directory Start is given, and Stop kills every process it
// started by its PID. On Linux the kernel also kills them if this process
// dies first (childproc), so no cluster outlives its owner. Components that
// can only bind 0.0.0.0 or fixed ports run in a network namespace the
// cluster makes (see sandbox), so the cluster only ever listens on
// 127.0.0.0/8 or inside that namespace, and two clusters never collide on a
// port.
//
//	c, err := engines.Start(ctx, dir, engines.WithRollouts())
//	if err != nil { ... }
//	defer c.Stop()
//	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
//
// Start's waits are bounded by ctx, never by a fixed timeout, and a
// component that exits fails the wait at once with the end of its log.
// Every component's log is in dir/logs.
package engines

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/smp/delivery/internal/local/freeport"
)

// NodeName is the fake node every cluster has; KWOK keeps it Ready.
const NodeName = "kwok-node-0"

// ArgoCDNamespace is where Argo CD's components look for their
// configuration and Applications.
const ArgoCDNamespace = "argocd"

// Option changes what Start starts.
type Option func(*options)

type options struct {
	rollouts, rolloutsCRDs, argoCD, argoCDCRDs bool
	binDir                                     string
}

// WithRollouts also starts the Argo Rollouts controller, after applying
// its five CRDs (Rollout, AnalysisRun, AnalysisTemplate,
// ClusterAnalysisTemplate, Experiment: without all of them it never syncs).
// Off by default.
func WithRollouts() Option { return func(o *options) { o.rollouts = true } }

// WithRolloutsCRDs applies Argo Rollouts' CRDs without starting its
// controller: for a test that plays the controller itself (one that loses
// an event, say). Off by default; WithRollouts implies it.
func WithRolloutsCRDs() Option { return func(o *options) { o.rolloutsCRDs = true } }

// WithArgoCD also starts Argo CD's application controller, repository
// server and ApplicationSet controller in namespace argocd, with their CRDs
// and a Redis of their own (Debian's redis-server on a free loopback port).
// Off by default.
func WithArgoCD() Option { return func(o *options) { o.argoCD = true } }

// WithArgoCDCRDs applies Argo CD's CRDs and makes its namespace without
// starting Argo CD: for a caller that writes Applications itself (a reader
// of their status). Off by default; WithArgoCD implies it.
func WithArgoCDCRDs() Option { return func(o *options) { o.argoCDCRDs = true } }

// WithBinDir takes the binaries from dir, a directory scripts/kube-bins.sh
// built. Default: DefaultBinDir (callers that honour $SMP_KUBE_BINS pass
// BinDirFromEnv's answer).
func WithBinDir(dir string) Option { return func(o *options) { o.binDir = dir } }

// Cluster is a running cluster. Its methods are safe for concurrent use.
type Cluster struct {
	dir        string
	bins       bins
	pki        *pki
	kubeconfig string
	rest       *rest.Config
	apiPort    int
	procs      []*Process
	sb         *sandbox
	upIn       time.Duration
	// life ends when the cluster stops: the processes' context.
	life context.Context
	end  context.CancelFunc

	stopOnce sync.Once
	stopErr  error
}

// Start starts a cluster in dir (made if needed; it holds the cluster's
// credentials, data and logs) and waits until its node is Ready and the
// default ServiceAccount exists (pods can be created), then, as the options
// say, until Argo Rollouts and Argo CD answer their health checks. When
// anything does not come up it stops what it started and returns why; the
// logs stay in dir/logs.
func Start(ctx context.Context, dir string, opts ...Option) (*Cluster, error) {
	o, b, err := resolve(opts)
	if err != nil {
		return nil, err
	}
	dir, err = filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("start the cluster: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("start the cluster: %w", err)
	}
	c := &Cluster{dir: dir, bins: b}
	c.life, c.end = context.WithCancel(context.Background())
	began := time.Now()
	fail := func(what string, err error) (*Cluster, error) {
		_ = c.Stop()
		return nil, fmt.Errorf("%s: %w (every component's log is in %s)", what, err, filepath.Join(dir, "logs"))
	}
	if err := c.startControlPlane(ctx); err != nil {
		return fail("start the cluster", err)
	}
	c.upIn = time.Since(began)
	switch {
	case o.rollouts:
		if err := c.startRollouts(ctx); err != nil {
			return fail("start Argo Rollouts", err)
		}
	case o.rolloutsCRDs:
		if err := c.applyRolloutsCRDs(ctx); err != nil {
			return fail("apply Argo Rollouts' CRDs", err)
		}
	}
	switch {
	case o.argoCD:
		if err := c.startArgoCD(ctx); err != nil {
			return fail("start Argo CD", err)
		}
	case o.argoCDCRDs:
		if err := c.applyArgoCDCRDs(ctx); err != nil {
			return fail("apply Argo CD's CRDs", err)
		}
	}
	return c, nil
}

// Dir is the directory the cluster keeps its files in.
func (c *Cluster) Dir() string { return c.dir }

// Kubeconfig is the path of a kubeconfig file with cluster-admin
// credentials (group system:masters).
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// RESTConfig returns a copy of the admin client configuration.
func (c *Cluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.rest) }

// UpIn is how long the control plane took to come up (node Ready, default
// ServiceAccount), credentials included.
func (c *Cluster) UpIn() time.Duration { return c.upIn }

// Processes lists the cluster's processes in the order they started.
func (c *Cluster) Processes() []*Process { return append([]*Process(nil), c.procs...) }

// SandboxHTTPClient returns an HTTP client whose connections are made from
// inside the cluster's network namespace: http://127.0.0.1:8090 is then
// the Rollouts controller's health port, not this machine's. It returns an
// error when no component runs in a namespace.
func (c *Cluster) SandboxHTTPClient() (*http.Client, error) {
	if c.sb == nil {
		return nil, errors.New("this cluster has no network namespace (start it WithRollouts or WithArgoCD)")
	}
	return &http.Client{Transport: &http.Transport{DialContext: c.sb.dial, DisableKeepAlives: true}}, nil
}

func (c *Cluster) startControlPlane(ctx context.Context) error {
	var err error
	if c.pki, err = newPKI(c.dir); err != nil {
		return err
	}
	etcdPort, err := freeport.Pick()
	if err != nil {
		return err
	}
	peerPort, err := freeport.Pick()
	if err != nil {
		return err
	}
	if c.apiPort, err = freeport.Pick(); err != nil {
		return err
	}
	kwokPort, err := freeport.Pick()
	if err != nil {
		return err
	}
	if err := c.writeKubeconfig(); err != nil {
		return err
	}

	etcdURL := "http://127.0.0.1:" + strconv.Itoa(etcdPort)
	peerURL := "http://127.0.0.1:" + strconv.Itoa(peerPort)
	etcd, err := c.start(nil, "etcd", nil, c.bins.bin("etcd"),
		"--name=default", "--data-dir="+filepath.Join(c.dir, "etcd"),
		"--listen-client-urls="+etcdURL, "--advertise-client-urls="+etcdURL,
		"--listen-peer-urls="+peerURL, "--initial-advertise-peer-urls="+peerURL,
		"--initial-cluster=default="+peerURL, "--unsafe-no-fsync", "--log-level=warn")
	if err != nil {
		return err
	}
	if err := c.wait(ctx, "etcd healthy", func(ctx context.Context) error {
		return httpOK(ctx, http.DefaultClient, etcdURL+"/health")
	}, etcd); err != nil {
		return err
	}

	// GOGC=200: a fifth of the apiserver's CPU went to its garbage
	// collector (perf, the kube end-to-end story), most of it while it
	// builds the schemas of Argo CD's and Argo Rollouts' CRDs. Collecting
	// half as often, a cluster with both came up on 10.1 CPU-s of
	// apiserver against 12.1-13.1, for 732-887 MiB RSS against 535-581
	// (the whole cluster 1,386-1,459 MiB against 1,219, under the 1.5 GiB a
	// cluster may use; kubecluster_test logs it). A throwaway
	// cluster trades the memory for the CPU. With Argo Rollouts beside
	// Argo CD the whole cluster came to 1,495-1,536 MiB (apiserver 853-876),
	// at the 1.5 GiB: GOMEMLIMIT makes the collector run more often only
	// near 640 MiB, which the apiserver reaches after its start. Measured
	// side by side (kubecluster's tests, both engines, 2026-12-07): RSS
	// 1,321-1,340 MiB (apiserver 679-697) for the same 7.8-7.9 CPU-s.
	api, err := c.start(nil, "kube-apiserver", []string{"GOGC=200", "GOMEMLIMIT=640MiB"}, c.bins.bin("kube-apiserver"),
		"--etcd-servers="+etcdURL,
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port="+strconv.Itoa(c.apiPort),
		"--cert-dir="+filepath.Join(c.dir, "apiserver"),
		"--tls-cert-file="+c.pki.ServingCert, "--tls-private-key-file="+c.pki.ServingKey,
		"--client-ca-file="+c.pki.CACert,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file="+c.pki.SAPub, "--service-account-signing-key-file="+c.pki.SAKey,
		"--service-cluster-ip-range=10.96.0.0/12", "--authorization-mode=Node,RBAC",
		"--endpoint-reconciler-type=none", "--allow-privileged=true", "--profiling=false")
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(c.rest)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	if err := c.wait(ctx, "kube-apiserver ready (/readyz)", func(ctx context.Context) error {
		return cs.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error()
	}, api); err != nil {
		return err
	}

	kcm, err := c.start(nil, "kube-controller-manager", nil, c.bins.bin("kube-controller-manager"),
		"--kubeconfig="+c.kubeconfig, "--bind-address=127.0.0.1", "--secure-port=0", "--leader-elect=false",
		"--controllers=*,-nodeipam", "--service-account-private-key-file="+c.pki.SAKey,
		"--root-ca-file="+c.pki.CACert, "--use-service-account-credentials=false", "--profiling=false",
		// Argo CD calls an Application with an HPA Healthy only once the HPA
		// controller has written the HPA's conditions, and that controller
		// looks every 15 s by default: a first sync of staging or prod (which
		// have an HPA) sat Synced and Progressing for 15 s with every pod
		// ready (measured: Healthy at 19 s, Synced at 4 s). Every 3 s, the
		// wait after the pods is at most that. Not every second: each sync
		// reads every HPA's scale subresource (a quorum read, through to
		// etcd) and asks the aggregator for metrics.k8s.io, which this
		// cluster does not serve, for as long as the cluster runs. Settled
		// after the demo's story on the real engines (an HPA in staging and
		// one in prod), those two HPAs took 0.2 of the cluster's 4.1 CPU-s
		// a minute at 3 s (bench/kube/idle.sh, 2026-12-07).
		"--horizontal-pod-autoscaler-sync-period=3s")
	if err != nil {
		return err
	}
	sched, err := c.start(nil, "kube-scheduler", nil, c.bins.bin("kube-scheduler"),
		"--kubeconfig="+c.kubeconfig, "--secure-port=0", "--leader-elect=false", "--profiling=false")
	if err != nil {
		return err
	}
	stages, err := filepath.Glob(filepath.Join(c.bins.stages(), "*.yaml"))
	if err != nil {
		return fmt.Errorf("KWOK stage configs: %w", err)
	}
	if len(stages) == 0 {
		return fmt.Errorf("no KWOK stage configs in %s (run scripts/tools.sh kube)", c.bins.stages())
	}
	kwokArgs := []string{"--kubeconfig=" + c.kubeconfig, "--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
		// The node-heartbeat-with-lease stage updates the node's status
		// rarely and counts on its Lease: without one, the node lifecycle
		// controller sees no heartbeat for 40s, calls the node not ready and
		// marks every pod on it NotReady, for good.
		"--node-lease-duration-seconds=40",
		// Its port-forward/exec/logs server, on loopback (it would bind
		// 0.0.0.0:<node port> by itself).
		"--server-address=127.0.0.1:" + strconv.Itoa(kwokPort)}
	for _, s := range stages {
		kwokArgs = append(kwokArgs, "--config="+s)
	}
	kwok, err := c.start(nil, "kwok", nil, c.bins.bin("kwok"), kwokArgs...)
	if err != nil {
		return err
	}

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        NodeName,
		Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"},
		Labels: map[string]string{"kubernetes.io/hostname": NodeName, "kubernetes.io/os": "linux",
			"kubernetes.io/arch": "amd64", "type": "kwok"},
	}}
	if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create node %s: %w", NodeName, err)
	}
	return c.wait(ctx, "node "+NodeName+" Ready and the default ServiceAccount", func(ctx context.Context) error {
		n, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if !nodeReady(n) {
			return fmt.Errorf("node %s not Ready yet", NodeName)
		}
		_, err = cs.CoreV1().ServiceAccounts("default").Get(ctx, "default", metav1.GetOptions{})
		return err
	}, etcd, api, kcm, sched, kwok)
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// writeKubeconfig writes the admin kubeconfig (credentials inline, so it
// works from any directory and namespace) and builds the REST config from
// it.
func (c *Cluster) writeKubeconfig() error {
	c.kubeconfig = filepath.Join(c.dir, "kubeconfig")
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubecluster"] = &clientcmdapi.Cluster{
		Server:                   "https://127.0.0.1:" + strconv.Itoa(c.apiPort),
		CertificateAuthorityData: c.pki.caPEM,
	}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: c.pki.adminCertPEM, ClientKeyData: c.pki.adminKeyPEM,
	}
	cfg.Contexts["kubecluster"] = &clientcmdapi.Context{Cluster: "kubecluster", AuthInfo: "admin", Namespace: "default"}
	cfg.CurrentContext = "kubecluster"
	if err := clientcmd.WriteToFile(*cfg, c.kubeconfig); err != nil {
		return fmt.Errorf("write kubeconfig: %w", err)
	}
	rc, err := clientcmd.NewDefaultClientConfig(*cfg, nil).ClientConfig()
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	// The default 5/10 per second makes a caller that applies a chart wait on
	// its own client.
	rc.QPS, rc.Burst = 200, 400
	c.rest = rc
	return nil
}

// start starts a component (in the sandbox when sb is not nil) and
// records it for stop.
func (c *Cluster) start(sb *sandbox, name string, env []string, bin string, args ...string) (*Process, error) {
	p, err := startProcess(c.life, c.dir, sb, name, env, bin, args...)
	if err != nil {
		return nil, err
	}
	c.procs = append(c.procs, p)
	return p, nil
}

// wait polls cond until it returns nil. It fails at once when one of
// watch exits, and when ctx ends, with cond's last
// error.
func (c *Cluster) wait(ctx context.Context, what string, cond func(context.Context) error, watch ...*Process) error {
	began := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		for _, p := range watch {
			if exit := p.exited(); exit != nil {
				return fmt.Errorf("waiting for %s: %w", what, exit)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not after %s (%w): %w", what, time.Since(began).Round(time.Millisecond), ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// Stop kills every process of the cluster by its PID, newest first, and
// reaps it, then closes the network namespace. A cluster is thrown away
// whole, with its data, so there is nothing for a graceful stop to save.
// Stop is safe to call more than once.
func (c *Cluster) Stop() error {
	c.stopOnce.Do(func() {
		for i := len(c.procs) - 1; i >= 0; i-- {
			c.procs[i].stop()
		}
		c.end()
		if c.sb != nil {
			if err := c.sb.close(); err != nil {
				c.stopErr = fmt.Errorf("close the network namespace: %w", err)
			}
		}
	})
	return c.stopErr
}

// httpOK GETs url and returns an error unless it answers 200.
func httpOK(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// ensureSandbox makes the cluster's network namespace on first use, with
// the apiserver bridged into it.
func (c *Cluster) ensureSandbox() (*sandbox, error) {
	if c.sb != nil {
		return c.sb, nil
	}
	sb, err := newSandbox()
	if err != nil {
		return nil, err
	}
	c.sb = sb
	if err := sb.bridge(c.apiPort); err != nil {
		return nil, err
	}
	return sb, nil
}

// ensureNamespace creates namespace ns unless it exists.
func ensureNamespace(ctx context.Context, cs kubernetes.Interface, ns string) error {
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", ns, err)
	}
	return nil
}

// readDir returns the contents of every YAML file in dir, in name order.
func readDir(dir string) ([]byte, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no YAML files in %s (run scripts/tools.sh kube)", dir)
	}
	var out []byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		out = append(append(out, "\n---\n"...), b...)
	}
	return out, nil
}
