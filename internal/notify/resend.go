package notify

import (
	"context"
	"fmt"
	"time"
)

// Resend sends e to the one sender named (as a Result names it:
// "slack[0]", "grafana", "github"), with the same retries and time limit
// as Notify, and reports the outcome; it never fails either. It is how a
// notification that could not be sent is sent later (package outbox): the
// caller decides that it has not been delivered, since a sender has no
// memory of what it sent. A sender that delivery.yaml no longer routes e
// to is a failed Result saying so.
func (n *Notifier) Resend(ctx context.Context, e Event, sender string) Result {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	ctx, cancel := context.WithTimeout(ctx, n.o.timeout)
	defer cancel()
	ts := n.targets(e)
	if in := n.incidentTarget(e); in != nil {
		ts = append(ts, *in)
	}
	for _, t := range ts {
		if t.name == sender {
			return n.deliver(ctx, t, e, &redactor{})
		}
	}
	return Result{Sender: sender, Error: fmt.Sprintf("%s is not configured for %s in %s any more (delivery.yaml's notifications changed since): send it by hand if it still matters", sender, e.Kind, e.Env)}
}
