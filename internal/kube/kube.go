// Package kube drives the production engines through the Kubernetes API with client-go:
// Argo CD Applications (sync, as `argocd app sync` does: an operation on the Application,
// then waiting for Synced and Healthy) and Argo Rollouts Rollouts (promote and abort, the same
// status patches the kubectl argo rollouts plugin makes, and their status). It is the
// production twin of the local runtime (internal/local/cluster): the same commands, the same
// observable behaviour (docs/kubernetes.md).
//
// Naming follows the scaffold: the Application of service S in environment E is smp-S-E in
// the argocd namespace, its resources live in namespace smp-E, and the chart's release (and
// Rollout) is named S.
package kube

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/smp/delivery/internal/fault"
)

// Resources of the engines.
var (
	ApplicationResource = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applications"}
	RolloutResource     = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}
	// ApplicationSetResource generates each environment's Applications
	// (apps/ENV-apps.yaml: ApplicationSet smp-ENV).
	ApplicationSetResource = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "applicationsets"}
)

// Errors a user acts on.
var (
	// ErrNoKubeconfig means no kubeconfig was given or found.
	ErrNoKubeconfig = fault.Invalidf("no kubeconfig")
	// ErrBadContext means the kubeconfig has no such context.
	ErrBadContext = fault.Invalidf("no such kubeconfig context")
	// ErrForbidden means the cluster's RBAC refused the request.
	ErrForbidden = fault.Refusedf("forbidden by the cluster's RBAC")
	// ErrNotFound means the Application or Rollout does not exist.
	ErrNotFound = fault.Invalidf("not found in the cluster")
	// ErrUnreachable means the API server did not answer.
	ErrUnreachable = fault.Refusedf("Kubernetes API server unreachable")
	// ErrNothingToPromote means the Rollout is not paused for promotion.
	ErrNothingToPromote = fault.Refusedf("nothing to promote: the rollout is not paused")
	// ErrPromotionUnseen means a promotion was sent and the Argo Rollouts
	// controller did not act on it in time.
	ErrPromotionUnseen = fault.Refusedf("the controller has not acted on the promotion")
	// ErrNothingToAbort means no update is in progress: after a promotion the way back is a
	// rollback commit.
	ErrNothingToAbort = fault.Refusedf("nothing to abort: no update in progress")
	// ErrAbortUnseen means an abort was sent and the Argo Rollouts
	// controller did not act on it in time.
	ErrAbortUnseen = fault.Refusedf("the controller has not acted on the abort")
	// ErrNotGenerated means the ApplicationSet of an environment could not
	// generate its Applications from smp-gitops (unreachable, or a file it
	// cannot read), or its controller did not answer.
	ErrNotGenerated = fault.Refusedf("Argo CD could not generate the Applications from smp-gitops")
	// ErrSyncFailed means an Application's sync did not succeed.
	ErrSyncFailed = fault.Refusedf("sync failed")
)

// Client talks to one cluster.
type Client struct {
	dyn  dynamic.Interface
	core kubernetes.Interface
	// promoteAck bounds Promote's and Abort's wait for the controller (0: promoteAck).
	promoteAck time.Duration
	// ArgoNamespace is where Argo CD's Applications live (default argocd).
	ArgoNamespace string
	// where names the cluster in messages (the context or the server URL).
	where string
}

// Config loads the client configuration: path (--kubeconfig; else KUBECONFIG, else
// ~/.kube/config, as kubectl) and context (--context; else the current one). home is the
// user's home directory, kubeconfigEnv the value of KUBECONFIG: configuration enters at the
// edge.
func Config(path, kubeconfigEnv, home, context string) (*rest.Config, string, error) {
	rules := &clientcmd.ClientConfigLoadingRules{}
	switch {
	case path != "":
		rules.ExplicitPath = path
	case kubeconfigEnv != "":
		rules.Precedence = filepath.SplitList(kubeconfigEnv)
	case home != "":
		rules.Precedence = []string{filepath.Join(home, ".kube", "config")}
	}
	files := append([]string{rules.ExplicitPath}, rules.Precedence...)
	found := false
	for _, f := range files {
		if f == "" {
			continue
		}
		if _, err := os.Stat(f); err == nil {
			found = true
		} else if f == rules.ExplicitPath {
			return nil, "", fault.Inputf("Kubeconfig", "%w: %s: %v", ErrNoKubeconfig, f, err)
		}
	}
	if !found {
		return nil, "", fmt.Errorf("%w: give --kubeconfig, set KUBECONFIG, or write ~/.kube/config (looked at %s)", ErrNoKubeconfig, strings.Join(nonEmpty(files), ", "))
	}
	raw, err := rules.Load()
	if err != nil {
		return nil, "", fault.Inputf("Kubeconfig", "%w: %v", ErrNoKubeconfig, err)
	}
	ctxName := context
	if ctxName == "" {
		ctxName = raw.CurrentContext
	}
	if _, ok := raw.Contexts[ctxName]; !ok {
		names := make([]string, 0, len(raw.Contexts))
		for n := range raw.Contexts {
			names = append(names, n)
		}
		return nil, "", fault.Inputf("Context", "%w %q: the kubeconfig has %s", ErrBadContext, ctxName, strings.Join(names, ", "))
	}
	cfg, err := clientcmd.NewNonInteractiveClientConfig(*raw, ctxName, &clientcmd.ConfigOverrides{}, rules).ClientConfig()
	if err != nil {
		return nil, "", fault.Inputf("Kubeconfig", "%w: context %s: %v", ErrNoKubeconfig, ctxName, err)
	}
	return cfg, ctxName, nil
}

func nonEmpty(s []string) []string {
	var out []string
	for _, v := range s {
		if v != "" {
			out = append(out, v)
		}
	}
	return out
}

// New returns a client for cfg; where names the cluster in messages.
func New(cfg *rest.Config, where string) (*Client, error) {
	cfg = rest.CopyConfig(cfg)
	cfg.UserAgent = "smpctl"
	if cfg.RateLimiter == nil {
		qps, burst := cfg.QPS, cfg.Burst
		if qps == 0 {
			qps = rest.DefaultQPS
		}
		if burst == 0 {
			burst = rest.DefaultBurst
		}
		cfg.RateLimiter = waitLimiter{flowcontrol.NewTokenBucketRateLimiter(qps, burst)}
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	core, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("kubernetes client: %w", err)
	}
	if where == "" {
		where = cfg.Host
	}
	return &Client{dyn: dyn, core: core, ArgoNamespace: "argocd", where: where}, nil
}

// waitLimiter is client-go's client-side rate limit (by default 5 requests
// a second, bursts of 10) with one difference: a request it holds back waits
// until the limit lets it go or its context ends, and then fails with the
// context's error. client-go's own limiter refuses at once a request whose
// wait would outlast the context's deadline, with an error that is not the
// context's ("rate: Wait(n=1) would exceed context deadline"): a wait that
// polls, near its deadline, then reported the API server unreachable instead
// of what it waited for (seen in the test of Regenerate).
type waitLimiter struct{ flowcontrol.RateLimiter }

func (l waitLimiter) Wait(ctx context.Context) error {
	for !l.TryAccept() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// Where names the cluster in messages: "context prod-cluster", or its server.
func (c *Client) Where() string { return c.where }

// Namespace is where service resources of env live.
func Namespace(env string) string { return "smp-" + env }

// AppName is the Application the scaffold's ApplicationSet makes for svc in env.
func AppName(env, svc string) string { return "smp-" + svc + "-" + env }

// explain turns an API error into one that says what, where and what to do.
func (c *Client) explain(err error, what string) error {
	switch {
	case err == nil:
		return nil
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w: %s in %s: %w", ErrNotFound, what, c.where, err)
	case apierrors.IsForbidden(err), apierrors.IsUnauthorized(err):
		return fmt.Errorf("%w: %s in %s: %w: ask for the role that allows it (docs/kubernetes.md lists the verbs smpctl uses)", ErrForbidden, what, c.where, err)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return fmt.Errorf("%s in %s: %w", what, c.where, err)
	}
	var se apierrors.APIStatus
	if errors.As(err, &se) {
		return fmt.Errorf("%s in %s: %w", what, c.where, err)
	}
	return fmt.Errorf("%w: %s in %s: %w: check the kubeconfig and its context, and that the cluster is up", ErrUnreachable, what, c.where, err)
}
