package demo

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/smp/delivery/internal/kube"
	"github.com/smp/delivery/internal/local/engines"
)

// The checks of the story on the real engines: each reads the cluster's
// own objects (Applications, Deployments, the Rollout, Services,
// ReplicaSets, Jobs), never smpctl's account of them alone.

// hashLabel is the label Argo Rollouts puts on a Rollout's pods and adds to
// its Services' selectors.
const hashLabel = "rollouts-pod-template-hash"

// eventually polls cond every 200ms until it returns nil, for at most
// storyWait; it then fails with cond's last error.
func eventually(ctx context.Context, what string, cond func(context.Context) error) error {
	wait := storyWait(ctx)
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		err := cond(ctx)
		if err == nil {
			return nil
		}
		// A call cut short by the deadline says nothing: keep the error
		// before it.
		if last == nil || !errors.Is(err, context.DeadlineExceeded) {
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: not within %s: %w", what, wait.Round(time.Second), last)
		case <-tick.C:
		}
	}
}

func nodeReady(conds []corev1.NodeCondition) bool {
	for _, c := range conds {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (s *kubeStory) app(ctx context.Context, env string) (*unstructured.Unstructured, error) {
	u, err := s.dyn.Resource(kube.ApplicationResource).Namespace(engines.ArgoCDNamespace).Get(ctx, kube.AppName(env, svcName), metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get Application %s: %w", kube.AppName(env, svcName), err)
	}
	return u, nil
}

// eventuallyApp waits until the Application of env satisfies cond, and
// fails with its status conditions.
func (s *kubeStory) eventuallyApp(ctx context.Context, env, what string, cond func(*unstructured.Unstructured) error) error {
	return eventually(ctx, kube.AppName(env, svcName)+": "+what, func(ctx context.Context) error {
		u, err := s.app(ctx, env)
		if err != nil {
			return err
		}
		if err := cond(u); err != nil {
			return fmt.Errorf("%w; conditions %v", err, appConditions(u))
		}
		return nil
	})
}

func appConditions(u *unstructured.Unstructured) []string {
	var out []string
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, _ := c.(map[string]any)
		out = append(out, fmt.Sprintf("%v: %v", m["type"], m["message"]))
	}
	if msg, _, _ := unstructured.NestedString(u.Object, "status", "operationState", "message"); msg != "" {
		out = append(out, "operation: "+msg)
	}
	return out
}

// waitSyncedHealthy waits until the Application of env is Synced and
// Healthy on the head of smp-gitops, and returns how long that took.
func (s *kubeStory) waitSyncedHealthy(ctx context.Context, env string) (time.Duration, error) {
	began := time.Now()
	head, err := s.runGit(ctx, s.remote, "rev-parse", "main")
	if err != nil {
		return 0, err
	}
	file, err := s.runGit(ctx, s.remote, "show", head+":environments/"+env+"/"+svcName+".yaml")
	if err != nil {
		return 0, err
	}
	err = s.eventuallyApp(ctx, env, "Synced and Healthy at "+short(head), func(u *unstructured.Unstructured) error {
		sync, _, _ := unstructured.NestedString(u.Object, "status", "sync", "status")
		health, _, _ := unstructured.NestedString(u.Object, "status", "health", "status")
		at, err := kube.ComparedWith(u, []byte(file))
		if err != nil {
			return err
		}
		if sync != "Synced" || health != "Healthy" || !at {
			return fmt.Errorf("%s, %s, compared with the environment file at %s: %v; want Synced and Healthy on it", sync, health, short(head), at)
		}
		return nil
	})
	return time.Since(began).Round(100 * time.Millisecond), err
}

func checkChart(u *unstructured.Unstructured, chart string) error {
	if got := kube.PinnedChart(u); got != chart {
		return fmt.Errorf("chart %q", got)
	}
	return nil
}

// webhook does what the push webhook GitHub sends to Argo CD does, for
// every environment (kube.Client.Regenerate, which smpctl's --sync runs
// too): it refreshes the ApplicationSets and the Applications, waiting
// until each Application named in charts pins that chart version.
func (s *kubeStory) webhook(ctx context.Context, charts map[string]string) error {
	for _, env := range kubeEnvs {
		if err := s.k.Regenerate(ctx, env, svcName, charts[env], storyWait(ctx)); err != nil {
			return err
		}
	}
	return nil
}

// checkDeployment waits until the rolling workload of env runs b, with
// every replica ready.
func (s *kubeStory) checkDeployment(ctx context.Context, env string, b kubeBuild) error {
	return eventually(ctx, env+" Deployment on "+b.tag, func(ctx context.Context) error {
		d, err := s.cs.AppsV1().Deployments(kube.Namespace(env)).Get(ctx, svcName, metav1.GetOptions{})
		if err != nil {
			return err
		}
		img := d.Spec.Template.Spec.Containers[0].Image
		if !strings.HasSuffix(img, "@"+b.digest) {
			return fmt.Errorf("image %s", img)
		}
		if d.Status.UpdatedReplicas != d.Status.Replicas || d.Status.ReadyReplicas != d.Status.Replicas || d.Status.Replicas == 0 {
			return fmt.Errorf("replicas %d, updated %d, ready %d", d.Status.Replicas, d.Status.UpdatedReplicas, d.Status.ReadyReplicas)
		}
		return nil
	})
}

// waitRollout waits until prod's Rollout, as smpctl reads it, satisfies
// cond, and returns it.
func (s *kubeStory) waitRollout(ctx context.Context, what string, cond func(kube.RolloutStatus) error) (kube.RolloutStatus, error) {
	var last kube.RolloutStatus
	err := eventually(ctx, what, func(ctx context.Context) error {
		r, err := s.k.Rollout(ctx, "prod", svcName)
		if err != nil {
			return err
		}
		last = r
		return cond(r)
	})
	return last, err
}

// checkSelectors checks the hashes prod's active and preview Services select.
func (s *kubeStory) checkSelectors(ctx context.Context, active, preview string) error {
	var errs []error
	for _, w := range []struct{ svc, want string }{{svcName, active}, {svcName + "-preview", preview}} {
		got, err := s.cs.CoreV1().Services(kube.Namespace("prod")).Get(ctx, w.svc, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if h := got.Spec.Selector[hashLabel]; h != w.want {
			errs = append(errs, fmt.Errorf("prod Service %s selects %s=%q, want %q", w.svc, hashLabel, h, w.want))
		}
	}
	return errors.Join(errs...)
}

// checkReplicaSet checks that prod's ReplicaSet hash runs b, all ready.
func (s *kubeStory) checkReplicaSet(ctx context.Context, hash string, b kubeBuild) error {
	rss, err := s.cs.AppsV1().ReplicaSets(kube.Namespace("prod")).List(ctx, metav1.ListOptions{LabelSelector: hashLabel + "=" + hash})
	if err != nil {
		return err
	}
	if len(rss.Items) != 1 {
		return fmt.Errorf("%d ReplicaSets with %s=%s, want 1", len(rss.Items), hashLabel, hash)
	}
	rs := rss.Items[0]
	if img := rs.Spec.Template.Spec.Containers[0].Image; !strings.HasSuffix(img, "@"+b.digest) {
		return fmt.Errorf("ReplicaSet %s runs %s, want %s", rs.Name, img, b.digest)
	}
	if rs.Spec.Replicas == nil || *rs.Spec.Replicas == 0 || rs.Status.ReadyReplicas != *rs.Spec.Replicas {
		return fmt.Errorf("ReplicaSet %s: %d of %v ready", rs.Name, rs.Status.ReadyReplicas, rs.Spec.Replicas)
	}
	return nil
}

// repositorySecrets gives Argo CD the credentials of smp-gitops (git over
// HTTPS with the token; the server's certificate is self-signed) and
// declares the chart repository an OCI Helm repository.
func (s *kubeStory) repositorySecrets(ctx context.Context) error {
	for _, r := range []struct {
		name string
		data map[string]string
	}{
		{"smp-gitops", map[string]string{"type": "git", "url": s.repoURL, "username": "x-access-token", "password": s.token, "insecure": "true"}},
		{"smp-charts", map[string]string{"type": "helm", "url": s.chartRepo, "name": "smp-charts", "enableOCI": "true"}},
	} {
		sec := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: r.name, Namespace: engines.ArgoCDNamespace,
				Labels: map[string]string{"argocd.argoproj.io/secret-type": "repository"}},
			StringData: r.data,
		}
		if _, err := s.cs.CoreV1().Secrets(engines.ArgoCDNamespace).Create(ctx, sec, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create repository secret %s: %w", r.name, err)
		}
	}
	return nil
}

// hookWatch records, from watches started before a deploy, when the
// migration Job succeeded and when each ReplicaSet appeared, by the
// objects' resourceVersions: etcd's revisions, one sequence for every
// kind, so they order events across the two watches.
type hookWatch struct {
	stop func()

	mu      sync.Mutex
	jobs    map[int64]string // revision the Job was seen succeeded at → its image
	rsFirst map[string]int64 // image → revision its first ReplicaSet was seen at
}

func (s *kubeStory) watchHooksAndReplicaSets(ctx context.Context, ns string) (*hookWatch, error) {
	ctx, cancel := context.WithCancel(ctx)
	h := &hookWatch{jobs: map[int64]string{}, rsFirst: map[string]int64{}}
	jw, err := s.cs.BatchV1().Jobs(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("watch Jobs in %s: %w", ns, err)
	}
	rw, err := s.cs.AppsV1().ReplicaSets(ns).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		jw.Stop()
		cancel()
		return nil, fmt.Errorf("watch ReplicaSets in %s: %w", ns, err)
	}
	var wg sync.WaitGroup
	h.stop = func() {
		jw.Stop()
		rw.Stop()
		cancel()
		wg.Wait()
	}
	rev := func(m metav1.Object) int64 { n, _ := strconv.ParseInt(m.GetResourceVersion(), 10, 64); return n }
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ev := range jw.ResultChan() {
			j, ok := ev.Object.(*batchv1.Job)
			if !ok || ev.Type == watch.Deleted || j.Status.Succeeded == 0 {
				continue
			}
			h.mu.Lock()
			h.jobs[rev(j)] = j.Spec.Template.Spec.Containers[0].Image
			h.mu.Unlock()
		}
	}()
	go func() {
		defer wg.Done()
		for ev := range rw.ResultChan() {
			rs, ok := ev.Object.(*appsv1.ReplicaSet)
			if !ok || ev.Type != watch.Added {
				continue
			}
			img := rs.Spec.Template.Spec.Containers[0].Image
			h.mu.Lock()
			if _, seen := h.rsFirst[img]; !seen {
				h.rsFirst[img] = rev(rs)
			}
			h.mu.Unlock()
		}
	}()
	return h, nil
}

// migrationBefore checks that a migration Job ran b's image and succeeded
// before the first ReplicaSet of b was created, and says so. The watches'
// events can arrive after the reads that found the Deployment ready (their
// goroutines wait for a CPU on a loaded machine like any other), so a
// missing event is waited for, up to 30 s.
func (h *hookWatch) migrationBefore(ctx context.Context, b kubeBuild) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var order string
	err := eventually(ctx, "the migration Job's and the ReplicaSet's events", func(context.Context) error {
		var err error
		order, err = h.orderOf(b)
		return err
	})
	return order, err
}

// orderOf is migrationBefore on the events seen so far.
func (h *hookWatch) orderOf(b kubeBuild) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var rsRev int64
	for img, r := range h.rsFirst {
		if strings.HasSuffix(img, "@"+b.digest) {
			rsRev = r
		}
	}
	if rsRev == 0 {
		return "", fmt.Errorf("no ReplicaSet of %s was seen created (seen: %v)", b.digest, h.rsFirst)
	}
	for r, img := range h.jobs {
		if strings.HasSuffix(img, "@"+b.digest) && r < rsRev {
			return fmt.Sprintf("migration Job on %s succeeded at revision %d, its ReplicaSet came at %d", b.tag, r, rsRev), nil
		}
	}
	return "", fmt.Errorf("no migration Job with %s succeeded before its ReplicaSet (revision %d); Jobs seen succeeded: %v", b.digest, rsRev, h.jobs)
}
