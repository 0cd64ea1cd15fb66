package kube

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
)

// podHashLabel is the label Argo Rollouts puts on each ReplicaSet and its pods, and in the
// active and preview Services' selectors.
const podHashLabel = "rollouts-pod-template-hash"

// RolloutStatus is a blue/green Rollout as an on-call engineer reads it.
type RolloutStatus struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// Phase is Argo Rollouts' status.phase: Healthy, Progressing, Paused or Degraded.
	Phase   string `json:"phase"`
	Message string `json:"message,omitempty"`
	// Paused is true while a blue/green update waits for promotion.
	Paused bool `json:"paused"`
	// Aborted is true after an abort, until git changes the template again.
	Aborted bool `json:"aborted"`
	// AbortedAt is when the controller reconciled the abort (RFC 3339); empty while it has
	// not yet.
	AbortedAt string `json:"abortedAt,omitempty"`
	// Active and Preview are the ReplicaSets the active and preview Services select.
	Active  *ReplicaSet `json:"active,omitempty"`
	Preview *ReplicaSet `json:"preview,omitempty"`
	// Stable is the pod-template hash of the last fully promoted ReplicaSet.
	Stable string `json:"stable"`
	// Current is the pod-template hash the spec asks for.
	Current string `json:"current"`
}

// ReplicaSet is one version of a Rollout.
type ReplicaSet struct {
	Hash     string `json:"hash"`
	Image    string `json:"image"`
	Digest   string `json:"digest,omitempty"`
	Replicas int64  `json:"replicas"`
	Ready    int64  `json:"ready"`
}

// Rollout reads the Rollout svc in env and the ReplicaSets its Services select.
func (c *Client) Rollout(ctx context.Context, env, svc string) (RolloutStatus, error) {
	return c.rolloutIn(ctx, Namespace(env), svc)
}

func (c *Client) rolloutIn(ctx context.Context, ns, svc string) (RolloutStatus, error) {
	u, err := c.dyn.Resource(RolloutResource).Namespace(ns).Get(ctx, svc, metav1.GetOptions{})
	if err != nil {
		return RolloutStatus{}, c.explain(err, "Rollout "+ns+"/"+svc)
	}
	st, hashes := rolloutStatus(ns, u)
	if len(hashes) == 0 {
		return st, nil
	}
	sets, err := c.replicaSets(ctx, ns, podHashLabel+" in ("+strings.Join(hashes, ",")+")")
	if err != nil {
		return st, err
	}
	st.resolve(sets)
	return st, nil
}

// Rollouts reads every Rollout in env's namespace, by name, with the
// ReplicaSets their Services select: two requests whatever the number of
// services (status --live and the dashboard read every environment at each
// poll). It needs `list` on rollouts.argoproj.io.
func (c *Client) Rollouts(ctx context.Context, env string) (map[string]RolloutStatus, error) {
	ns := Namespace(env)
	list, err := c.dyn.Resource(RolloutResource).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, c.explain(err, "Rollouts of "+ns)
	}
	out := make(map[string]RolloutStatus, len(list.Items))
	if len(list.Items) == 0 {
		return out, nil
	}
	// Every ReplicaSet a Rollout made carries the pod-template hash.
	sets, err := c.replicaSets(ctx, ns, podHashLabel)
	if err != nil {
		return nil, err
	}
	for i := range list.Items {
		st, _ := rolloutStatus(ns, &list.Items[i])
		st.resolve(sets)
		out[st.Name] = st
	}
	return out, nil
}

// rolloutStatus reads a Rollout's status; hashes are the pod-template
// hashes its active and preview Services select, whose ReplicaSets
// resolve then fills in.
func rolloutStatus(ns string, u *unstructured.Unstructured) (RolloutStatus, []string) {
	st := RolloutStatus{Namespace: ns, Name: u.GetName()}
	st.Phase, _, _ = unstructured.NestedString(u.Object, "status", "phase")
	st.Message, _, _ = unstructured.NestedString(u.Object, "status", "message")
	st.Stable, _, _ = unstructured.NestedString(u.Object, "status", "stableRS")
	st.Current, _, _ = unstructured.NestedString(u.Object, "status", "currentPodHash")
	st.Aborted, _, _ = unstructured.NestedBool(u.Object, "status", "abort")
	st.AbortedAt, _, _ = unstructured.NestedString(u.Object, "status", "abortedAt")
	pauses, _, _ := unstructured.NestedSlice(u.Object, "status", "pauseConditions")
	specPaused, _, _ := unstructured.NestedBool(u.Object, "spec", "paused")
	st.Paused = len(pauses) > 0 || specPaused
	active, _, _ := unstructured.NestedString(u.Object, "status", "blueGreen", "activeSelector")
	preview, _, _ := unstructured.NestedString(u.Object, "status", "blueGreen", "previewSelector")
	var hashes []string
	if active != "" {
		st.Active = &ReplicaSet{Hash: active}
		hashes = append(hashes, active)
	}
	if preview != "" && preview != active {
		st.Preview = &ReplicaSet{Hash: preview}
		hashes = append(hashes, preview)
	}
	return st, hashes
}

// resolve fills in the active and preview ReplicaSets from sets: those
// with their hash that this Rollout owns (a ReplicaSet without an owner
// counts, as a single Rollout's read always did).
func (st *RolloutStatus) resolve(sets []appsv1.ReplicaSet) {
	for _, rs := range []*ReplicaSet{st.Active, st.Preview} {
		if rs == nil {
			continue
		}
		for i := range sets {
			r := &sets[i]
			if r.Labels[podHashLabel] != rs.Hash || !ownedBy(r, st.Name) {
				continue
			}
			if cs := r.Spec.Template.Spec.Containers; len(cs) > 0 {
				rs.Image = cs[0].Image
				if _, d, ok := strings.Cut(rs.Image, "@"); ok {
					rs.Digest = d
				}
			}
			if r.Spec.Replicas != nil {
				rs.Replicas = int64(*r.Spec.Replicas)
			}
			rs.Ready = int64(r.Status.ReadyReplicas)
		}
	}
}

// ownedBy reports whether r belongs to the Rollout name: its controller
// is that Rollout, or it has no controller.
func ownedBy(r *appsv1.ReplicaSet, name string) bool {
	ref := metav1.GetControllerOf(r)
	return ref == nil || (ref.Kind == "Rollout" && ref.Name == name)
}

func (c *Client) replicaSets(ctx context.Context, ns, selector string) ([]appsv1.ReplicaSet, error) {
	list, err := c.core.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, c.explain(err, "ReplicaSets of "+ns)
	}
	return list.Items, nil
}

// Promote promotes a blue/green Rollout paused before promotion, as `kubectl argo rollouts
// promote` does: the pause conditions are cleared through the status subresource (and
// spec.paused unset). A Rollout that is not paused is refused (ErrNothingToPromote). It
// then waits until the controller has acted (sendAndAwait); progress, if not nil, gets a
// line for each thing it does meanwhile.
func (c *Client) Promote(ctx context.Context, env, svc string, progress io.Writer) error {
	st, err := c.Rollout(ctx, env, svc)
	if err != nil {
		return err
	}
	if !st.Paused {
		if st.Current != "" && st.Current != st.Stable && !st.Aborted {
			// An update in progress that has not paused: its preview is not (yet) ready.
			ready := "no preview ReplicaSet yet"
			if st.Preview != nil {
				ready = fmt.Sprintf("preview %s has %d of %d pods ready", st.Preview.Hash, st.Preview.Ready, st.Preview.Replicas)
			}
			return fmt.Errorf("promote %s/%s: %w: the new version is not ready for promotion (%s; phase %s: %s): wait until it pauses, or look at its pods (kubectl -n %s get pods -l %s=%s)",
				st.Namespace, svc, ErrNothingToPromote, ready, st.Phase, st.Message, st.Namespace, podHashLabel, st.Current)
		}
		return fmt.Errorf("promote %s/%s: %w (phase %s): deploy a new version first, then promote its preview", st.Namespace, svc, ErrNothingToPromote, st.Phase)
	}
	hash := st.Current
	return c.sendAndAwait(ctx, st.Namespace, svc, ack{
		verb: "promote", noun: "promotion", unseen: ErrPromotionUnseen, annotation: PromotedAtAnnotation,
		lost: "the Rollout is paused again (the controller acted on an older copy); promoting again",
		state: func(st RolloutStatus) ackState {
			switch {
			case st.Current != hash || st.Aborted || st.Stable == hash:
				return acted // promoted, or someone else changed the Rollout since: not ours to wait for
			case !st.Paused && st.Phase != "Paused":
				return acted // the controller has read the promotion
			case st.Paused:
				return lost
			}
			return waiting // unpaused, but the controller has not recomputed the phase
		},
		send: c.sendPromotion,
	}, progress)
}

// sendPromotion clears the Rollout's pause conditions through the status
// subresource and unsets spec.paused: the kubectl plugin's promote.
func (c *Client) sendPromotion(ctx context.Context, ns, svc string) error {
	if err := c.patchRollout(ctx, ns, svc, "promote", `{"status":{"pauseConditions":null}}`, "status"); err != nil {
		return err
	}
	return c.patchRollout(ctx, ns, svc, "promote", `{"spec":{"paused":false}}`)
}

// patchRollout merge-patches the Rollout ns/svc (or its subresource); what
// names the action in the error.
func (c *Client) patchRollout(ctx context.Context, ns, svc, what, patch string, subresource ...string) error {
	if _, err := c.dyn.Resource(RolloutResource).Namespace(ns).Patch(ctx, svc, types.MergePatchType, []byte(patch), metav1.PatchOptions{}, subresource...); err != nil {
		return c.explain(err, what+" Rollout "+ns+"/"+svc)
	}
	return nil
}

// Abort aborts the update of a Rollout in progress (before promotion), as `kubectl argo
// rollouts abort` does (status.abort through the status subresource): the preview goes and
// active never changed. After a promotion there is no update in progress, and Argo Rollouts
// would leave the Rollout on the new version: that is refused (ErrNothingToAbort) with the way
// back, the rollback commit. Like Promote it then waits until the controller has acted: it
// set status.abortedAt and dropped the pause conditions (sendAndAwait).
func (c *Client) Abort(ctx context.Context, env, svc string, progress io.Writer) error {
	st, err := c.Rollout(ctx, env, svc)
	if err != nil {
		return err
	}
	if st.Current == st.Stable || st.Aborted {
		msg := "no update in progress"
		if st.Active != nil {
			msg = st.Active.Image + " is active and promoted"
		}
		return fmt.Errorf("abort %s/%s: %w: %s; to go back, commit the previous version (smpctl rollback): while its ReplicaSet still runs (scaleDownDelaySeconds) it becomes active again without a pause",
			st.Namespace, svc, ErrNothingToAbort, msg)
	}
	hash := st.Current
	return c.sendAndAwait(ctx, st.Namespace, svc, ack{
		verb: "abort", noun: "abort", unseen: ErrAbortUnseen, annotation: AbortedAtAnnotation,
		lost: "status.abort is gone but the update still waits (the controller wrote an older copy); aborting again",
		state: func(st RolloutStatus) ackState {
			switch {
			case st.Current != hash || st.Stable == hash:
				return acted // git or someone's promotion changed the Rollout since: not ours to wait for
			case !st.Aborted:
				return lost
			case st.AbortedAt != "" && !st.Paused:
				// The controller reconciled the abort: it sets abortedAt and drops the
				// pause conditions in one status write.
				return acted
			}
			return waiting
		},
		send: c.sendAbort,
	}, progress)
}

// sendAbort sets status.abort through the status subresource: the kubectl plugin's abort.
func (c *Client) sendAbort(ctx context.Context, ns, svc string) error {
	return c.patchRollout(ctx, ns, svc, "abort", `{"status":{"abort":true}}`, "status")
}

// promoteAck bounds how long Promote and Abort wait for the controller to
// act on what they sent; nudgeAfter is how long it may go unseen before
// the Rollout is touched again.
const (
	promoteAck = 2 * time.Minute
	nudgeAfter = 5 * time.Second
)

// PromotedAtAnnotation and AbortedAtAnnotation are set on a Rollout whose
// promotion or abort the controller has not acted on after nudgeAfter: the
// change is an event that makes it read the Rollout again.
const (
	PromotedAtAnnotation = "smp.vn/promoted-at"
	AbortedAtAnnotation  = "smp.vn/aborted-at"
)

// ackState is where a Rollout is after a promotion or an abort was sent.
type ackState int

const (
	waiting ackState = iota // sent, not acted on yet
	acted                   // the controller acted, or the Rollout changed since: done
	lost                    // what was sent is undone: send it again
)

// ack is a change sent to the Argo Rollouts controller through the
// Rollout's status (promote, abort) and how to tell it has acted.
type ack struct {
	verb, noun string // "promote", "promotion"
	unseen     error  // the error when the controller never acts
	annotation string // the annotation that touches the Rollout
	lost       string // what progress says when the change is undone
	state      func(RolloutStatus) ackState
	send       func(ctx context.Context, ns, svc string) error
}

// sendAndAwait sends a, then waits until the Argo Rollouts controller has
// acted on it. Sending it is not enough on its own. The controller writes
// each status it persists back into its informer cache unconditionally
// (writeBackToInformer), so a change that lands just after the controller
// wrote a status can be overwritten in that cache by the older copy: the
// controller then sees the Rollout as it was and waits for a next event
// that may never come (Argo Rollouts 1.8; seen on a loaded machine, where
// a promoted Rollout stayed Paused until the test gave up after 18 min, and
// an aborted one kept its preview for 39 min). A controller that
// recomputes from such a copy may also undo the change. So: a change that
// is undone is sent again; one still unseen after nudgeAfter gets an
// annotation, a new event, so the controller reads the Rollout afresh.
// After promoteAck (c.promoteAck in tests) it says the controller has not
// acted, which is what the engineer has to look at.
func (c *Client) sendAndAwait(ctx context.Context, ns, svc string, a ack, w io.Writer) error {
	if err := a.send(ctx, ns, svc); err != nil {
		return err
	}
	limit := c.promoteAck
	if limit == 0 {
		limit = promoteAck
	}
	// The limit is a deadline of its own, not the requests' context: a
	// request cut short by it (client-go's rate limiter refuses to wait past
	// a context's deadline) would be an API error, not "the controller has
	// not acted".
	deadline := time.Now().Add(limit)
	r := c.dyn.Resource(RolloutResource).Namespace(ns)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	last := time.Now()
	for {
		u, err := r.Get(ctx, svc, metav1.GetOptions{})
		if err != nil {
			return c.explain(err, "read Rollout "+ns+"/"+svc+" after its "+a.noun)
		}
		st, _ := rolloutStatus(ns, u)
		state := a.state(st)
		switch {
		case state == acted:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("%s %s/%s: %w: the %s was sent, but after %s the Argo Rollouts controller has not acted on it (phase %s): check that it runs (kubectl -n argo-rollouts get pods) and read its log; then `smpctl rollout status` says where the Rollout is",
				a.verb, ns, svc, a.unseen, a.noun, limit, st.Phase)
		case state == lost:
			progress(w, "%s %s/%s: %s", a.verb, ns, svc, a.lost)
			if err := a.send(ctx, ns, svc); err != nil {
				return err
			}
			last = time.Now()
		case time.Since(last) >= nudgeAfter:
			progress(w, "%s %s/%s: the Argo Rollouts controller has not acted after %s; touching the Rollout (%s) so it reads it again",
				a.verb, ns, svc, time.Since(last).Round(time.Second), a.annotation)
			patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q}}}`, a.annotation, time.Now().UTC().Format(time.RFC3339Nano))
			if err := c.patchRollout(ctx, ns, svc, "touch", patch); err != nil {
				return err
			}
			last = time.Now()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}
