package history

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/smp/delivery/internal/gitcmd"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/statefile"
)

// Notification is one recorded notification that could not be sent, and
// what became of it: state/notifications/<env>/<service>.yaml (package
// statefile owns the file's fields; package notify/outbox writes it).
type Notification struct {
	Environment string `json:"environment"`
	Service     string `json:"service"`
	statefile.Delivery
	// Unreadable says why the outbox file could not be read; such an entry
	// stands for the whole file, which may list notifications not sent.
	Unreadable string `json:"unreadable,omitempty"`
}

// Pending reports whether the notification is still not delivered
// (failed, or being resent).
func (n Notification) Pending() bool { return n.State != statefile.DeliveryDelivered }

// Notifications reads every recorded notification at commit (HEAD when
// empty), newest failure first, with two git processes. An outbox that
// does not parse is one pending entry saying so: what it lists must not
// drop out of view.
func (r *Repo) Notifications(ctx context.Context, commit string) ([]Notification, error) {
	if commit == "" {
		var err error
		if commit, err = r.head(ctx); err != nil {
			return nil, err
		}
	}
	dir := statefile.NotificationsDir
	tree, err := r.git.Run(ctx, "ls-tree", "-r", "-z", "--full-tree", commit, "--", dir)
	if err != nil {
		return nil, fmt.Errorf("list %s in %s: %w", dir, r.Source, err)
	}
	type file struct{ env, svc string }
	var (
		files []file
		names []string
	)
	for p, obj := range gitcmd.TreeBlobs(tree) {
		// <env>/<svc>.yaml; anything else (.gitkeep) is not an outbox.
		env, name, ok := strings.Cut(strings.TrimPrefix(p, dir+"/"), "/")
		svc, yaml := strings.CutSuffix(name, ".yaml")
		if !ok || !yaml || !delivery.ValidName(env) || !delivery.ValidName(svc) {
			continue
		}
		files = append(files, file{env, svc})
		names = append(names, obj)
	}
	if len(files) == 0 {
		return nil, nil
	}
	blobs, err := r.git.CatFiles(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("read %s in %s: %w", dir, r.Source, err)
	}
	var out []Notification
	for i, b := range blobs {
		ob, err := statefile.DecodeOutbox(b)
		if err != nil {
			out = append(out, Notification{Environment: files[i].env, Service: files[i].svc,
				Delivery:   statefile.Delivery{State: statefile.DeliveryFailed},
				Unreadable: fmt.Sprintf("%s is not valid YAML (%v): fix it with a commit, then smpctl notify retry", statefile.NotificationsPath(files[i].env, files[i].svc), err)})
			continue
		}
		for _, d := range ob.Deliveries {
			out = append(out, Notification{Environment: files[i].env, Service: files[i].svc, Delivery: d})
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].FailedAt.After(out[j].FailedAt) })
	return out, nil
}
