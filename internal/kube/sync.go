package kube

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// AppStatus is an Argo CD Application as `argocd app get` summarises it.
type AppStatus struct {
	Name        string `json:"name"`
	Service     string `json:"service"`
	Environment string `json:"environment"`
	// Sync is Synced, OutOfSync or Unknown; Health is Healthy, Progressing, Suspended (a
	// blue/green Rollout paused for promotion), Degraded or Missing.
	Sync     string `json:"sync"`
	Health   string `json:"health"`
	Revision string `json:"revision,omitempty"`
	// Operation is the last sync operation's phase (Running, Succeeded, Failed, Error) and
	// Message what it said.
	Operation string `json:"operation,omitempty"`
	Message   string `json:"message,omitempty"`
	// OperationStarted is when that operation started (RFC 3339, the controller's clock).
	OperationStarted string `json:"operationStarted,omitempty"`
	// requested is true while an operation waits for the controller to pick it up.
	requested bool
	// Conditions are the Application's error and warning conditions (a chart that does not
	// render, a repository it cannot reach).
	Conditions []string `json:"conditions,omitempty"`
	// Unhealthy are the Application's resources that are not Healthy, with what Argo CD says
	// of them ("Rollout smp-prod/order-svc: Progressing: waiting for ... replicas"): where a
	// sync that does not end is stuck.
	Unhealthy []string `json:"unhealthy,omitempty"`
	// workloads are the Application's Rollouts and Deployments, read from the cluster when a
	// sync does not end.
	workloads []objectRef
}

type objectRef struct{ kind, namespace, name string }

func (r objectRef) String() string { return r.kind + " " + r.namespace + "/" + r.name }

// Done reports whether a sync has finished well: Synced and Healthy, or Suspended (a
// blue/green Rollout waiting for promotion is what a prod sync should end in).
func (a AppStatus) Done() bool {
	return a.Operation != "Running" && a.Sync == "Synced" && (a.Health == "Healthy" || a.Health == "Suspended")
}

// Failed reports whether the sync failed for good.
func (a AppStatus) Failed() bool { return a.Operation == "Failed" || a.Operation == "Error" }

func appStatus(u *unstructured.Unstructured) AppStatus {
	a := AppStatus{Name: u.GetName()}
	a.Service = u.GetLabels()["smp.vn/service"]
	a.Environment = u.GetLabels()["smp.vn/environment"]
	a.Sync, _, _ = unstructured.NestedString(u.Object, "status", "sync", "status")
	a.Health, _, _ = unstructured.NestedString(u.Object, "status", "health", "status")
	a.Revision, _, _ = unstructured.NestedString(u.Object, "status", "sync", "revision")
	a.Operation, _, _ = unstructured.NestedString(u.Object, "status", "operationState", "phase")
	a.Message, _, _ = unstructured.NestedString(u.Object, "status", "operationState", "message")
	a.OperationStarted, _, _ = unstructured.NestedString(u.Object, "status", "operationState", "startedAt")
	_, a.requested, _ = unstructured.NestedMap(u.Object, "operation")
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		t, _ := m["type"].(string)
		msg, _ := m["message"].(string)
		a.Conditions = append(a.Conditions, t+": "+msg)
	}
	res, _, _ := unstructured.NestedSlice(u.Object, "status", "resources")
	for _, r := range res {
		m, _ := r.(map[string]any)
		kind, _ := m["kind"].(string)
		ns, _ := m["namespace"].(string)
		name, _ := m["name"].(string)
		if kind == "Rollout" || kind == "Deployment" {
			a.workloads = append(a.workloads, objectRef{kind, ns, name})
		}
		h, _ := m["health"].(map[string]any)
		st, _ := h["status"].(string)
		if st == "" || st == "Healthy" {
			continue
		}
		where, _ := m["name"].(string)
		if ns, _ := m["namespace"].(string); ns != "" {
			where = ns + "/" + where
		}
		line := fmt.Sprintf("%v %s: %s", m["kind"], where, st)
		if msg, _ := h["message"].(string); msg != "" {
			line += ": " + msg
		}
		a.Unhealthy = append(a.Unhealthy, line)
	}
	return a
}

// Apps lists the Applications of env (label smp.vn/environment), by name.
func (c *Client) Apps(ctx context.Context, env string) ([]AppStatus, error) {
	list, err := c.dyn.Resource(ApplicationResource).Namespace(c.ArgoNamespace).List(ctx, metav1.ListOptions{LabelSelector: "smp.vn/environment=" + env})
	if err != nil {
		return nil, c.explain(err, "Applications of "+env)
	}
	out := make([]AppStatus, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, appStatus(&list.Items[i]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// App reads one Application.
func (c *Client) App(ctx context.Context, name string) (AppStatus, error) {
	u, err := c.dyn.Resource(ApplicationResource).Namespace(c.ArgoNamespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return AppStatus{}, c.explain(err, "Application "+c.ArgoNamespace+"/"+name)
	}
	return appStatus(u), nil
}

// SyncOptions say how Sync waits.
type SyncOptions struct {
	// By is recorded as the operation's initiator.
	By string
	// Poll is how often the Application is read while waiting (default 1s).
	Poll time.Duration
	// Progress receives one line per change of an Application's state.
	Progress io.Writer
	// Timeout bounds the wait (0: until ctx ends). A sync that has not ended by then is
	// reported with where each Application is stuck; Argo CD's operation goes on.
	Timeout time.Duration
	// GenerateWait bounds Sync's wait for the ApplicationSet to generate the Applications
	// from the head of smp-gitops before it syncs them (default GenerateWait).
	GenerateWait time.Duration
}

// Sync syncs the Applications of env to the head of smp-gitops, as `argocd app sync` does
// (an operation with the hook strategy set on each Application), and waits until every one
// is Synced and Healthy (or Suspended: blue/green paused for promotion) or failed, until ctx
// ends. First the ApplicationSet smp-ENV generates the Applications from the head of
// smp-gitops (Generate): they carry the environment files as the generator read them, so
// without it a sync would apply what git said at their last generation; when it cannot,
// nothing is synced. It returns every Application's last state; ErrNotGenerated or
// ErrSyncFailed when they did not sync.
func (c *Client) Sync(ctx context.Context, env string, o SyncOptions) ([]AppStatus, error) {
	apps, err := c.Apps(ctx, env)
	if err != nil {
		return nil, err
	}
	if len(apps) == 0 {
		return nil, fmt.Errorf("%w: no Application of environment %s in namespace %s of %s: apply the scaffold's apps/%s-apps.yaml (smpctl gitops init writes it)", ErrNotFound, env, c.ArgoNamespace, c.where, env)
	}
	if o.GenerateWait <= 0 {
		o.GenerateWait = GenerateWait
	}
	start := time.Now()
	progress(o.Progress, "ApplicationSet %s/smp-%s: generating the Applications from the head of smp-gitops", c.ArgoNamespace, env)
	generated, err := c.Generate(ctx, env, o.GenerateWait)
	if err != nil {
		return apps, err
	}
	if generated {
		progress(o.Progress, "ApplicationSet %s/smp-%s: generated from the head of smp-gitops in %s", c.ArgoNamespace, env, time.Since(start).Round(100*time.Millisecond))
	} else {
		progress(o.Progress, "no ApplicationSet %s/smp-%s: syncing its Applications as they are", c.ArgoNamespace, env)
	}
	return c.SyncApps(ctx, names(apps), o)
}

// syncOperation is the operation `argocd app sync` asks Argo CD's API server for, which fills
// it from the Application: the application controller reads the sync options (CreateNamespace,
// RespectIgnoreDifferences, PruneLast, ...) and the retry strategy from the operation only, never
// from spec.syncPolicy, so an operation without them would sync a new environment into a
// namespace that does not exist and overwrite the replicas the HPA owns.
func syncOperation(app *unstructured.Unstructured, by string) map[string]any {
	sync := map[string]any{"syncStrategy": map[string]any{"hook": map[string]any{}}}
	if opts, ok, _ := unstructured.NestedStringSlice(app.Object, "spec", "syncPolicy", "syncOptions"); ok && len(opts) > 0 {
		sync["syncOptions"] = opts
	}
	op := map[string]any{
		"initiatedBy": map[string]any{"username": by},
		"sync":        sync,
		"retry":       map[string]any{"limit": int64(3)},
	}
	if retry, ok, _ := unstructured.NestedMap(app.Object, "spec", "syncPolicy", "retry"); ok {
		op["retry"] = retry
	}
	return op
}

func names(apps []AppStatus) []string {
	out := make([]string, len(apps))
	for i, a := range apps {
		out[i] = a.Name
	}
	return out
}

// SyncApps syncs the named Applications and waits as Sync does.
func (c *Client) SyncApps(ctx context.Context, apps []string, o SyncOptions) ([]AppStatus, error) {
	if o.Poll <= 0 {
		o.Poll = time.Second
	}
	if o.By == "" {
		o.By = "smpctl"
	}
	var timeout <-chan time.Time
	if o.Timeout > 0 {
		tm := time.NewTimer(o.Timeout)
		defer tm.Stop()
		timeout = tm.C
	}
	started := map[string]time.Time{}
	before := map[string]string{} // the last operation's start, to tell ours from it
	for _, name := range apps {
		op, err := c.requestSync(ctx, name, o, timeout)
		if err != nil {
			return nil, err
		}
		before[name] = op
		started[name] = time.Now()
		progress(o.Progress, "%s: sync started", name)
	}
	last := map[string]AppStatus{}
	t := time.NewTicker(o.Poll)
	defer t.Stop()
	for {
		pending := 0
		for _, name := range apps {
			a, err := c.App(ctx, name)
			if err != nil {
				return values(last, apps), err
			}
			if prev, ok := last[name]; !ok || prev.Sync != a.Sync || prev.Health != a.Health || prev.Operation != a.Operation {
				progress(o.Progress, "%s: %s, %s (operation %s) %s", name, a.Sync, a.Health, or(a.Operation, "none"), time.Since(started[name]).Round(100*time.Millisecond))
			}
			last[name] = a
			// Until the controller has taken our operation, the state read is the last one's.
			ours := !a.requested && a.OperationStarted != "" && a.OperationStarted != before[name]
			if !ours || (!a.Done() && !a.Failed()) {
				pending++
			}
		}
		if pending == 0 {
			break
		}
		select {
		case <-ctx.Done():
			out := c.describeWorkloads(ctx, values(last, apps))
			return out, fmt.Errorf("%w: waiting for %d Application(s) of %s: %w; %s", ErrSyncFailed, pending, c.where, ctx.Err(), stuck(out))
		case <-timeout:
			out := c.describeWorkloads(ctx, values(last, apps))
			return out, fmt.Errorf("%w: %d Application(s) of %s not Synced and Healthy after %s; %s", ErrSyncFailed, pending, c.where, o.Timeout, stuck(out))
		case <-t.C:
		}
	}
	out := values(last, apps)
	var errs []error
	for _, a := range out {
		if a.Failed() || !a.Done() {
			errs = append(errs, fmt.Errorf("%s: %s, %s: %s %v", a.Name, a.Sync, a.Health, a.Message, a.Conditions))
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("%w: %w; the previous version keeps serving", ErrSyncFailed, errors.Join(errs...))
	}
	return out, nil
}

// requestSync sets a sync operation on the Application name once no other
// operation is in progress, and returns the start of the last operation
// before it (how SyncApps tells its own from it). Argo CD runs one
// operation at a time, and its API refuses a second ("another operation is
// already in progress"); an operation written over one the controller is
// running is cleared when that one ends, and never runs. In an automated
// environment an auto-sync starts as soon as the ApplicationSet updates the
// Application (Sync has it generate first), so requestSync waits for the
// operation in progress to end, then asks for its own: the patch carries
// the resourceVersion it read, and an Application changed since (an
// auto-sync begun in between) is read again.
func (c *Client) requestSync(ctx context.Context, name string, o SyncOptions, timeout <-chan time.Time) (string, error) {
	apps := c.dyn.Resource(ApplicationResource).Namespace(c.ArgoNamespace)
	said := false
	for {
		u, err := apps.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", c.explain(err, "Application "+c.ArgoNamespace+"/"+name)
		}
		a := appStatus(u)
		if !a.requested && a.Operation != "Running" {
			op := syncOperation(u, o.By)
			patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"resourceVersion": u.GetResourceVersion()}, "operation": op})
			if err != nil {
				return "", err
			}
			_, err = apps.Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
			if err == nil {
				return a.OperationStarted, nil
			}
			if !apierrors.IsConflict(err) {
				return "", c.explain(err, "sync Application "+c.ArgoNamespace+"/"+name)
			}
			continue
		}
		if !said {
			progress(o.Progress, "%s: waiting for the operation in progress (started %s, %s) to end", name, or(a.OperationStarted, "not yet"), or(a.Operation, "requested"))
			said = true
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%w: Application %s/%s in %s still runs the operation started %s: %w; its sync was not asked for (Applications listed before it were): see `argocd app get %s`", ErrSyncFailed, c.ArgoNamespace, name, c.where, or(a.OperationStarted, "(not yet)"), ctx.Err(), name)
		case <-timeout:
			return "", fmt.Errorf("%w: Application %s/%s in %s still runs the operation started %s after %s; its sync was not asked for (Applications listed before it were): see `argocd app get %s`", ErrSyncFailed, c.ArgoNamespace, name, c.where, or(a.OperationStarted, "(not yet)"), o.Timeout, name)
		case <-time.After(o.Poll):
		}
	}
}

// describeWorkloads adds to each Application that is not done how its Rollouts and
// Deployments stand, read from the cluster: Argo CD v3 keeps resource health in its own
// cache, not in the Application (status.resources has none), and "Progressing" alone does
// not tell an engineer that the new pods cannot be scheduled. It reads for at most 10 s,
// also after ctx ended (the caller is already reporting), and skips what it cannot read.
func (c *Client) describeWorkloads(ctx context.Context, apps []AppStatus) []AppStatus {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	for i := range apps {
		a := &apps[i]
		if a.Done() {
			continue
		}
		for _, w := range a.workloads {
			if described(a.Unhealthy, w) {
				continue
			}
			var line string
			switch w.kind {
			case "Rollout":
				line = c.describeRollout(ctx, w)
			case "Deployment":
				line = c.describeDeployment(ctx, w)
			}
			if line != "" {
				a.Unhealthy = append(a.Unhealthy, line)
			}
		}
	}
	return apps
}

func described(lines []string, w objectRef) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, w.String()+":") {
			return true
		}
	}
	return false
}

func (c *Client) describeRollout(ctx context.Context, w objectRef) string {
	r, err := c.rolloutIn(ctx, w.namespace, w.name)
	if err != nil || (r.Phase == "Healthy" && !r.Paused) {
		return ""
	}
	line := w.String() + ": " + or(r.Phase, "Unknown")
	if r.Message != "" {
		line += ": " + r.Message
	}
	if r.Current != "" && r.Current != r.Stable && !r.Paused {
		if r.Preview != nil && r.Preview.Hash == r.Current {
			line += fmt.Sprintf("; preview %s has %d of %d pods ready", r.Preview.Hash, r.Preview.Ready, r.Preview.Replicas)
		}
		line += fmt.Sprintf(" (kubectl -n %s get pods -l %s=%s shows why)", w.namespace, podHashLabel, r.Current)
	}
	return line
}

func (c *Client) describeDeployment(ctx context.Context, w objectRef) string {
	d, err := c.core.AppsV1().Deployments(w.namespace).Get(ctx, w.name, metav1.GetOptions{})
	if err != nil {
		return ""
	}
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	if d.Status.UpdatedReplicas >= want && d.Status.ReadyReplicas >= want && d.Status.Replicas == want {
		return ""
	}
	line := fmt.Sprintf("%s: %d of %d replicas updated, %d ready", w, d.Status.UpdatedReplicas, want, d.Status.ReadyReplicas)
	for _, cond := range d.Status.Conditions {
		if cond.Type == "Progressing" && cond.Message != "" {
			line += ": " + cond.Message
		}
	}
	return line + fmt.Sprintf(" (kubectl -n %s describe deployment %s shows why)", w.namespace, w.name)
}

// stuck says where each Application that has not finished is, and what to do.
func stuck(apps []AppStatus) string {
	var b strings.Builder
	for _, a := range apps {
		if a.Done() {
			continue
		}
		fmt.Fprintf(&b, "%s is %s, %s", a.Name, or(a.Sync, "Unknown"), or(a.Health, "Unknown"))
		if a.Operation != "" {
			fmt.Fprintf(&b, " (operation %s", a.Operation)
			if a.Message != "" {
				fmt.Fprintf(&b, ": %s", a.Message)
			}
			b.WriteString(")")
		}
		for _, r := range append(a.Conditions, a.Unhealthy...) {
			fmt.Fprintf(&b, "; %s", r)
		}
		b.WriteString(". ")
	}
	b.WriteString("The previous version keeps serving until the sync completes: fix what is named above, or roll back (smpctl rollback); argocd app get shows the rest")
	return b.String()
}

func values(m map[string]AppStatus, order []string) []AppStatus {
	out := make([]AppStatus, 0, len(order))
	for _, n := range order {
		if a, ok := m[n]; ok {
			out = append(out, a)
		}
	}
	return out
}

func progress(w io.Writer, format string, args ...any) {
	if w != nil {
		_, _ = fmt.Fprintf(w, format+"\n", args...)
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
