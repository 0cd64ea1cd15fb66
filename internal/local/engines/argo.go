package engines

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"

	"k8s.io/client-go/kubernetes"

	"github.com/smp/delivery/internal/local/freeport"
)

// Ports inside the sandbox, where nothing else listens: the components'
// defaults.
const (
	rolloutsHealthzPort   = 8080 // rollouts-controller --healthzPort (it binds 0.0.0.0)
	appControllerHTTPPort = 8082 // argocd-application-controller --metrics-port: metrics and /healthz (it binds 0.0.0.0)
)

// startRollouts applies the Argo Rollouts CRDs and starts its controller in
// the sandbox: it binds 0.0.0.0:8080 and :8090, and only their ports can be
// changed.
func (c *Cluster) startRollouts(ctx context.Context) error {
	if err := c.applyRolloutsCRDs(ctx); err != nil {
		return err
	}
	sb, err := c.ensureSandbox()
	if err != nil {
		return err
	}
	p, err := c.start(sb, "rollouts-controller", nil, c.bins.bin("rollouts-controller"),
		"--kubeconfig="+c.kubeconfig, "--leader-elect=false", "--loglevel=info",
		"--healthzPort="+strconv.Itoa(rolloutsHealthzPort))
	if err != nil {
		return err
	}
	client, err := c.SandboxHTTPClient()
	if err != nil {
		return err
	}
	return c.wait(ctx, "rollouts-controller healthy", func(ctx context.Context) error {
		return httpOK(ctx, client, "http://127.0.0.1:"+strconv.Itoa(rolloutsHealthzPort)+"/healthz")
	}, p)
}

// applyRolloutsCRDs applies Argo Rollouts' CRDs.
func (c *Cluster) applyRolloutsCRDs(ctx context.Context) error { return c.applyCRDs(ctx, "rollouts") }

// applyCRDs applies the CRDs scripts/kube-bins.sh kept for engine.
func (c *Cluster) applyCRDs(ctx context.Context, engine string) error {
	crds, err := readDir(c.bins.crds(engine))
	if err != nil {
		return err
	}
	if err := c.Apply(ctx, "", crds); err != nil {
		return fmt.Errorf("apply the CRDs: %w", err)
	}
	return nil
}

// applyArgoCDCRDs applies Argo CD's CRDs and makes its namespace.
func (c *Cluster) applyArgoCDCRDs(ctx context.Context) error {
	if err := c.applyCRDs(ctx, "argocd"); err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(c.rest)
	if err != nil {
		return fmt.Errorf("client: %w", err)
	}
	return ensureNamespace(ctx, cs, ArgoCDNamespace)
}

// startArgoCD applies Argo CD's CRDs and configuration and starts Redis,
// the repository server and the ApplicationSet controller on free loopback
// ports, and the application controller in the sandbox (its metrics and
// health server binds 0.0.0.0; only the port can be set), with the
// apiserver, Redis and the repository server bridged in.
func (c *Cluster) startArgoCD(ctx context.Context) error {
	if err := c.applyArgoCDCRDs(ctx); err != nil {
		return err
	}
	// Argo CD's configuration as its install manifests ship it (kept by
	// scripts/kube-bins.sh): argocd-cm's default resource.exclusions
	// (Endpoints, EndpointSlices, Leases, access reviews…) and
	// ignoreResourceUpdates (status-only changes that leave health as it
	// was) are what every installation runs with. With the config maps
	// empty, as they once were here, the tests saw an Argo CD no one runs:
	// one that watched the Leases KWOK's node renews and refreshed its
	// Applications on every status change. (Its CPU is the same either
	// way, measured: docs/kubernetes.md.)
	config, err := readDir(c.bins.config("argocd"))
	if err != nil {
		return err
	}
	if err := c.Apply(ctx, ArgoCDNamespace, config); err != nil {
		return fmt.Errorf("apply Argo CD's configuration: %w", err)
	}

	dir := filepath.Join(c.dir, "argocd")
	for _, d := range []string{"redis", "tmp", "tls", "ssh", "gpg/source", "gpg/keys", "plugins", "app-config"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return fmt.Errorf("argocd directories: %w", err)
		}
	}
	ports := map[string]int{}
	for _, name := range []string{"redis", "repo", "repo-metrics", "appset-metrics", "appset-probe", "appset-webhook"} {
		if ports[name], err = freeport.Pick(); err != nil {
			return err
		}
	}
	loop := func(name string) string { return "127.0.0.1:" + strconv.Itoa(ports[name]) }

	redisServer, err := exec.LookPath("redis-server")
	if err != nil {
		return fmt.Errorf("redis-server is not installed (scripts/tools.sh services installs it): %w", err)
	}
	redis, err := c.start(nil, "redis", nil, redisServer, "--bind", "127.0.0.1", "--port", strconv.Itoa(ports["redis"]),
		"--save", "", "--appendonly", "no", "--dir", filepath.Join(dir, "redis"), "--daemonize", "no")
	if err != nil {
		return err
	}

	// Everything Argo CD would read or write under /app/config and /tmp goes
	// to the cluster's directory: parallel clusters must not share the
	// repository server's askpass socket or its checkouts.
	env := []string{
		"TMPDIR=" + filepath.Join(dir, "tmp"),
		"ARGOCD_ASK_PASS_SOCK=" + filepath.Join(dir, "askpass.sock"),
		"ARGOCD_TLS_DATA_PATH=" + filepath.Join(dir, "tls"),
		"ARGOCD_SSH_DATA_PATH=" + filepath.Join(dir, "ssh"),
		"ARGOCD_GPG_DATA_PATH=" + filepath.Join(dir, "gpg/source"),
		"ARGOCD_GNUPGHOME=" + filepath.Join(dir, "gpg/keys"),
		"ARGOCD_GPG_ENABLED=false",
		"ARGOCD_PLUGINSOCKFILEPATH=" + filepath.Join(dir, "plugins"),
		"ARGOCD_APP_CONF_PATH=" + filepath.Join(dir, "app-config"),
		// The ApplicationSet controller loads its client through
		// controller-runtime, which reads KUBECONFIG, not --kubeconfig.
		"KUBECONFIG=" + c.kubeconfig,
		// The destination https://kubernetes.default.svc is this cluster:
		// Argo CD reaches it with the in-cluster configuration (a pod's
		// service account), or, with this, with KUBECONFIG, as in Argo CD's
		// own local development setup.
		"ARGOCD_FAKE_IN_CLUSTER=true",
		// The repository server runs the helm CLI (helm pull of OCI charts,
		// helm template), as Argo CD's image ships it: the pinned one first.
		"PATH=" + filepath.Dir(c.bins.bin("helm")) + string(os.PathListSeparator) + os.Getenv("PATH"),
	}
	repo, err := c.start(nil, "argocd-repo-server", env, c.bins.bin("argocd-repo-server"),
		"--address=127.0.0.1", "--port="+strconv.Itoa(ports["repo"]),
		"--metrics-address=127.0.0.1", "--metrics-port="+strconv.Itoa(ports["repo-metrics"]),
		"--disable-tls", "--redis="+loop("redis"), "--logformat=text")
	if err != nil {
		return err
	}
	kube := []string{"--kubeconfig=" + c.kubeconfig, "--namespace=" + ArgoCDNamespace}
	appset, err := c.start(nil, "argocd-applicationset-controller", env, c.bins.bin("argocd-applicationset-controller"),
		append(kube, "--metrics-addr="+loop("appset-metrics"), "--probe-addr="+loop("appset-probe"),
			"--webhook-addr="+loop("appset-webhook"), "--argocd-repo-server="+loop("repo"),
			"--repo-server-plaintext", "--enable-scm-providers=false", "--logformat=text")...)
	if err != nil {
		return err
	}

	sb, err := c.ensureSandbox()
	if err != nil {
		return err
	}
	for _, port := range []int{ports["redis"], ports["repo"]} {
		if err := sb.bridge(port); err != nil {
			return err
		}
	}
	// GOGC=200, as for kube-apiserver (engines.go): a fifth of the
	// controller's CPU was its garbage collector (perf, the kube story);
	// with it the story's controller used 14.4 CPU-s against 16.7-16.8.
	ctrl, err := c.start(sb, "argocd-application-controller", append(slices.Clip(env), "GOGC=200"), c.bins.bin("argocd-application-controller"),
		append(kube, "--redis="+loop("redis"), "--repo-server="+loop("repo"), "--repo-server-plaintext",
			"--metrics-port="+strconv.Itoa(appControllerHTTPPort), "--status-processors=2",
			"--operation-processors=2", "--logformat=text",
			// Reconcile every Application each 20 s (production: 120 s plus
			// up to 60 s of jitter). A comparison that fails is retried only
			// at the next reconciliation: under load the controller once
			// timed out loading the apiserver's OpenAPI schema (33 s), marked
			// dev's Application Unknown and skipped its auto-sync for two
			// minutes. A loopback cluster holds a handful of Applications,
			// and the repository server answers a refresh of an unchanged
			// commit from its cache.
			"--app-resync=20", "--app-resync-jitter=5")...)
	if err != nil {
		return err
	}

	inside, err := c.SandboxHTTPClient()
	if err != nil {
		return err
	}
	// The ApplicationSet controller registers no health or readiness
	// check: its metrics answer once its manager runs.
	return c.wait(ctx, "Argo CD ready (application controller /healthz, ApplicationSet controller and repository server metrics)", func(ctx context.Context) error {
		if err := httpOK(ctx, inside, "http://127.0.0.1:"+strconv.Itoa(appControllerHTTPPort)+"/healthz"); err != nil {
			return fmt.Errorf("application controller: %w", err)
		}
		if err := httpOK(ctx, http.DefaultClient, "http://"+loop("appset-metrics")+"/metrics"); err != nil {
			return fmt.Errorf("applicationset controller: %w", err)
		}
		if err := httpOK(ctx, http.DefaultClient, "http://"+loop("repo-metrics")+"/metrics"); err != nil {
			return fmt.Errorf("repo server: %w", err)
		}
		return nil
	}, redis, repo, appset, ctrl)
}
