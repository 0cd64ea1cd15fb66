package history

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitcmd"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/statefile"
)

// Approval is one recorded approval,
// state/approvals/<env>/<service>/<version>.yaml (package statefile owns
// the file's fields).
type Approval struct {
	Environment string `json:"environment"`
	Service     string `json:"service"`
	statefile.Approval
	// Error says why the file could not be read; such an approval does not
	// let a deploy through either.
	Error string `json:"error,omitempty"`
}

// Approvals reads every recorded approval for env at commit (HEAD when
// empty), sorted by service and version, with two git processes.
func (r *Repo) Approvals(ctx context.Context, commit, env string) ([]Approval, error) {
	if err := delivery.CheckName("environment", env); err != nil {
		return nil, fault.Invalidf("%v", err)
	}
	if commit == "" {
		var err error
		if commit, err = r.head(ctx); err != nil {
			return nil, err
		}
	}
	dir := "state/approvals/" + env
	tree, err := r.git.Run(ctx, "ls-tree", "-r", "-z", "--full-tree", commit, "--", dir)
	if err != nil {
		return nil, fmt.Errorf("list approvals of %s in %s: %w", env, r.Source, err)
	}
	var (
		out   []Approval
		names []string
	)
	for p, obj := range gitcmd.TreeBlobs(tree) {
		// <svc>/<version>.yaml; anything else (.gitkeep) is not an approval.
		svc, file, ok := strings.Cut(strings.TrimPrefix(p, dir+"/"), "/")
		if !ok || !delivery.ValidName(svc) || !strings.HasSuffix(file, ".yaml") || strings.Contains(file, "/") {
			continue
		}
		out = append(out, Approval{Environment: env, Service: svc})
		out[len(out)-1].Version = strings.TrimSuffix(file, ".yaml")
		names = append(names, obj)
	}
	if len(out) == 0 {
		return nil, nil
	}
	blobs, err := r.git.CatFiles(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("read approvals of %s in %s: %w", env, r.Source, err)
	}
	for i, b := range blobs {
		version := out[i].Version
		a, err := statefile.DecodeApproval(b)
		if err != nil {
			out[i].Error = err.Error()
			continue
		}
		out[i].Approval = a
		if out[i].Version == "" {
			out[i].Version = version // the file name names the version too
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Service != out[j].Service {
			return out[i].Service < out[j].Service
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}
