package history

import (
	"context"
	"testing"
	"time"
)

func TestStatusShowsTheDeploysQueuedBehindASoak(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.change(change{action: "deploy", env: "dev", svc: "order-svc", tag: "3.3.0", digest: digest('a'), by: "ci", at: t0})
	st, err := f.open(t).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if st.Queue != nil {
		t.Fatalf("queue of a repository with none = %+v, want nil", st.Queue)
	}

	f.write("state/queue/dev/order-svc.yaml", "repository: ghcr.io/smp/order-svc\ntag: 3.4.0\ndigest: "+digest('b')+
		"\nqueuedAt: 2026-11-01T10:00:00Z\nby: ci\nbehind: 3.3.0\n")
	f.write("state/queue/dev/partner-svc.yaml", "tag: [not, a, tag]\n")
	f.write("state/queue/.gitkeep", "")
	f.commit(t0.Add(time.Hour), "queue(dev): order-svc → 3.4.0\n\nAction: queue")
	st, err = f.open(t).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Queue) != 2 {
		t.Fatalf("queue = %+v, want order-svc and the broken partner-svc", st.Queue)
	}
	q := st.Queue[0]
	if q.Environment != "dev" || q.Service != "order-svc" || q.Tag != "3.4.0" || q.Digest != digest('b') || q.Behind != "3.3.0" || q.By != "ci" || !q.QueuedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("queued = %+v", q)
	}
	if st.Queue[1].Service != "partner-svc" || st.Queue[1].Error == "" {
		t.Errorf("a queue file that is not YAML of a queued deploy: %+v, want its error", st.Queue[1])
	}
	// The running version is untouched by a queued deploy.
	if c, _ := st.Cell("order-svc", "dev"); c.Tag != "3.3.0" {
		t.Errorf("dev runs %q, want 3.3.0", c.Tag)
	}
}

func TestTheSoakAndQueueCommitsReadAsTheirActions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		msg  string
		want Action
	}{
		{"soak(dev): order-svc 3.3.0 soaked 30m0s\n\nAction: soak\nEnvironment: dev\nService: order-svc", ActionSoak},
		{"queue(dev): order-svc → 3.4.0\n\nAction: queue\nEnvironment: dev\nService: order-svc", ActionQueue},
		{"dequeue(dev): order-svc 3.4.0 already running\n\nAction: dequeue\nEnvironment: dev\nService: order-svc", ActionDequeue},
	} {
		e := ParseMessage(tc.msg)
		if e.Action != tc.want || e.Action.Changes() || e.Environment != "dev" || e.Service != "order-svc" {
			t.Errorf("%q read as %+v, want action %s that changes no environment file", tc.msg, e, tc.want)
		}
	}
}
