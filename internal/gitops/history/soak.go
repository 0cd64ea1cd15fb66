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

// Actions of the soak and the deploy queue (docs/soak.md). They write no
// environment file, except DrainQueue's deploy, which is ActionDeploy.
const (
	ActionSoak    Action = "soak"
	ActionQueue   Action = "queue"
	ActionDequeue Action = "dequeue"
)

// QueuedDeploy is one automated deploy waiting for a soak to end,
// state/queue/<env>/<service>.yaml (package statefile owns the file's
// fields; docs/soak.md).
type QueuedDeploy struct {
	Environment string `json:"environment"`
	Service     string `json:"service"`
	statefile.Queued
	// Error says why the file could not be read; DrainQueue refuses it too.
	Error string `json:"error,omitempty"`
}

// Queue reads every queued deploy at commit (HEAD when empty), sorted by
// environment and service: one git process when nothing is queued, two
// otherwise.
func (r *Repo) Queue(ctx context.Context, commit string) ([]QueuedDeploy, error) {
	if commit == "" {
		var err error
		if commit, err = r.head(ctx); err != nil {
			return nil, err
		}
	}
	const dir = "state/queue/"
	tree, err := r.git.Run(ctx, "ls-tree", "-r", "-z", "--full-tree", commit, "--", "state/queue")
	if err != nil {
		return nil, fmt.Errorf("list the deploy queue of %s: %w", r.Source, err)
	}
	var (
		out   []QueuedDeploy
		names []string
	)
	for p, obj := range gitcmd.TreeBlobs(tree) {
		// <env>/<svc>.yaml; anything else (.gitkeep) is not a queued deploy.
		env, file, ok := strings.Cut(strings.TrimPrefix(p, dir), "/")
		svc, yaml := strings.CutSuffix(file, ".yaml")
		if !ok || !yaml || !delivery.ValidName(env) || !delivery.ValidName(svc) {
			continue
		}
		out = append(out, QueuedDeploy{Environment: env, Service: svc})
		names = append(names, obj)
	}
	if len(out) == 0 {
		return nil, nil
	}
	blobs, err := r.git.CatFiles(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("read the deploy queue of %s: %w", r.Source, err)
	}
	for i, b := range blobs {
		q, err := statefile.DecodeQueued(b)
		if err != nil {
			out[i].Error = err.Error()
			continue
		}
		out[i].Queued = q
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Environment != out[j].Environment {
			return out[i].Environment < out[j].Environment
		}
		return out[i].Service < out[j].Service
	})
	return out, nil
}
