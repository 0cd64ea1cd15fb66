package history

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitcmd"
	"github.com/smp/delivery/internal/gitops/delivery"
)

// Index is every service's history at one commit, read with one walk, for a
// reader that shows many services at the same head: Index.Service says for
// any service what Repo.Service says, without reading the history again. On
// 200 services × 3 environments and 5,000 commits that is one walk for all
// the service pages of a head instead of one per page.
//
// An Index does not change once read, so readers of it need no lock. When
// the repository's head moves, Repo.Index extends the older Index into a
// new one by walking only the commits that came since; the two share the
// events they have in common, and the older one still answers for its own
// head.
type Index struct {
	source string
	// snap is what names are checked against: delivery.yaml and the
	// environment files' keys (indexSnapshot); cfgBlob names the
	// delivery.yaml it parsed.
	snap    *Snapshot
	cfgBlob string
	// events are the commits Service reads — those that name a service
	// with an action, and those without an action (hand edits, whose
	// files say which service they touched) — oldest first, so that an
	// extension only appends and a position never changes.
	events []*indexEvent
	// byService lists, oldest first, the positions in events of the
	// commits with an action whose Service trailer names the service;
	// manual those of the commits without an action. Both are clipped
	// (cap = len): an extension's append copies instead of writing into
	// an array the older Index still reads.
	byService map[string][]int
	manual    []int
	// newest is the newest commit time in the whole history, as the
	// delivery figures' default Until.
	newest time.Time
}

// indexEvent is an Event, and for a commit without an action the services
// whose files it changed, per environment.
type indexEvent struct {
	Event
	touched []Key
}

// Commit is the commit the Index describes the history at.
func (x *Index) Commit() string { return x.snap.Commit }

// Len is how many commits the Index keeps: those that name a service, and
// the hand edits.
func (x *Index) Len() int { return len(x.events) }

// indexPaths are the folders whose files tie a hand edit to a service
// (envOfPath's, serviceEvents' paths).
var indexPaths = []string{"environments", "state/holds", "state/approvals"}

// Index returns the Index of the history at commit (default HEAD). When
// prev, an Index of the same repository, is at an ancestor of commit and
// the commits between them form a chain on top of it (every smpctl write
// is one), the new Index is prev extended by a walk of those commits only
// (git log commit --not prev); otherwise — no prev, a force push, a merge
// in between — it is read with one walk of the whole history, plus one
// `git log --no-walk` over the hand-made commits either way. A merge is
// read again in full because git lists a merged branch's commits among
// older ones by date: appending them would order the timeline differently
// from a walk. prev is not changed and still answers for its own commit.
func (r *Repo) Index(ctx context.Context, commit string, prev *Index) (*Index, error) {
	head := commit
	if !isHash(commit) {
		// A name (HEAD, a branch): the Index is named after its commit.
		if commit == "" {
			commit = "HEAD"
		}
		var err error
		if head, err = r.git.Output(ctx, "rev-parse", "--verify", "--end-of-options", commit+"^{commit}"); err != nil {
			return nil, fmt.Errorf("read commit %s of %s: %w", commit, r.Source, err)
		}
	}
	if prev != nil && prev.source == r.Source && prev.Commit() == head {
		return prev, nil
	}
	snap, cfgBlob, err := r.indexSnapshot(ctx, head, prev)
	if err != nil {
		return nil, err
	}
	if prev != nil && prev.source == r.Source {
		on, err := r.isAncestor(ctx, prev.Commit(), head)
		if err != nil {
			return nil, err
		}
		if on {
			x, err := r.extendIndex(ctx, prev, snap, cfgBlob)
			if err != nil || x != nil {
				return x, err
			}
		}
	}
	x := &Index{source: r.Source, snap: snap, cfgBlob: cfgBlob, byService: map[string][]int{}}
	var evs []*WalkEvent
	err = r.Walk(ctx, WalkOptions{From: head}, func(ev *WalkEvent) bool {
		evs = append(evs, ev)
		return true
	})
	if err != nil {
		return nil, err
	}
	if err := r.addToIndex(ctx, x, evs); err != nil {
		return nil, err
	}
	return x, nil
}

// indexSnapshot reads what an Index checks names against at head —
// delivery.yaml and which environment files exist, without their contents
// or the holds — with one `git ls-tree`; delivery.yaml is read and parsed
// again only when it is not the blob prev parsed. A new head of the
// dashboard costs that and the walk of its new commits, nothing that grows
// with the number of services but one listing.
func (r *Repo) indexSnapshot(ctx context.Context, head string, prev *Index) (*Snapshot, string, error) {
	tree, err := r.git.Run(ctx, "ls-tree", "-r", "-z", "--full-tree", head, "--", "delivery.yaml", "environments")
	if err != nil {
		return nil, "", fmt.Errorf("list files of %s: %w", r.Source, err)
	}
	s := &Snapshot{Commit: head, Files: map[Key]EnvFile{}, Holds: map[Key]Hold{}}
	var cfgBlob string
	for p, obj := range gitcmd.TreeBlobs(tree) {
		if p == "delivery.yaml" {
			cfgBlob = obj
			continue
		}
		if k, hold, ok := keyOf(p); ok && !hold {
			s.Files[k] = EnvFile{}
		}
	}
	switch {
	case cfgBlob == "":
		// No delivery.yaml: snapshotAt says so as every reader does.
		if _, err := r.snapshotAt(ctx, head, false); err != nil {
			return nil, "", err
		}
		return nil, "", fmt.Errorf("%s: no delivery.yaml at %s", r.Source, short(head))
	case prev != nil && prev.source == r.Source && prev.cfgBlob == cfgBlob:
		s.Config = prev.snap.Config
	default:
		b, err := r.git.Run(ctx, "cat-file", "blob", cfgBlob)
		if err != nil {
			return nil, "", fmt.Errorf("read delivery.yaml of %s: %w", r.Source, err)
		}
		if s.Config, err = delivery.Parse(b); err != nil {
			return nil, "", fault.Invalidf("%s: delivery.yaml at %s: %v: fix it with a commit", r.Source, short(head), err)
		}
	}
	return s, cfgBlob, nil
}

// isHash reports whether s is a full commit hash (SHA-1 or SHA-256), which
// needs no git process to resolve.
func isHash(s string) bool {
	if len(s) != 40 && len(s) != 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// isAncestor reports whether ancestor is commit or one of its ancestors.
// A commit the repository no longer has (a force push, then a gc) is no
// ancestor.
func (r *Repo) isAncestor(ctx context.Context, ancestor, commit string) (bool, error) {
	_, err := r.git.Run(ctx, "merge-base", "--is-ancestor", ancestor, commit)
	switch code := gitcmd.ExitCode(err); {
	case err == nil:
		return true, nil
	case code == 1, code == 128:
		return false, nil
	}
	return false, fmt.Errorf("compare commits of %s: %w", r.Source, err)
}

// extendIndex returns prev extended to snap's commit by walking the commits
// since prev's, or nil when they are not a chain on top of it (a merge).
func (r *Repo) extendIndex(ctx context.Context, prev *Index, snap *Snapshot, cfgBlob string) (*Index, error) {
	var evs []*WalkEvent
	chain := true
	err := r.Walk(ctx, WalkOptions{From: snap.Commit, Exclude: []string{prev.Commit()}, Parents: true}, func(ev *WalkEvent) bool {
		if len(ev.Parents) != 1 {
			chain = false
			return false
		}
		evs = append(evs, ev)
		return true
	})
	if err != nil {
		return nil, err
	}
	if !chain || len(evs) == 0 || evs[len(evs)-1].Parents[0] != prev.Commit() {
		return nil, nil
	}
	x := &Index{source: prev.source, snap: snap, cfgBlob: cfgBlob, events: prev.events, byService: make(map[string][]int, len(prev.byService)),
		manual: prev.manual, newest: prev.newest}
	for svc, pos := range prev.byService {
		x.byService[svc] = pos
	}
	if err := r.addToIndex(ctx, x, evs); err != nil {
		return nil, err
	}
	return x, nil
}

// addToIndex appends evs, newest first as a walk lists them, to x, and
// reads which services' files the hand-made ones changed.
func (r *Repo) addToIndex(ctx context.Context, x *Index, evs []*WalkEvent) error {
	hand := map[string]*indexEvent{}
	var candidates []string
	for _, ev := range slices.Backward(evs) {
		if ev.Time.After(x.newest) {
			x.newest = ev.Time
		}
		switch {
		case ev.Action == "":
			ie := &indexEvent{Event: ev.Event}
			x.manual = append(x.manual, len(x.events))
			x.events = append(x.events, ie)
			hand[ev.Commit] = ie
			candidates = append(candidates, ev.Commit)
		case ev.Service != "":
			x.byService[ev.Service] = append(x.byService[ev.Service], len(x.events))
			x.events = append(x.events, &indexEvent{Event: ev.Event})
		}
	}
	x.events, x.manual = slices.Clip(x.events), slices.Clip(x.manual)
	for svc, pos := range x.byService {
		x.byService[svc] = slices.Clip(pos)
	}
	if len(candidates) == 0 {
		return nil
	}
	return r.Walk(ctx, WalkOptions{Commits: candidates, Paths: indexPaths, Files: true}, func(ev *WalkEvent) bool {
		ie := hand[ev.Commit]
		if ie == nil {
			return true
		}
		for _, p := range ev.Files {
			if k, ok := serviceOfPath(p); ok && !slices.Contains(ie.touched, k) {
				ie.touched = append(ie.touched, k)
			}
		}
		return true
	})
}

// serviceOfPath is the environment and service of a path under the folders
// serviceEvents limits its listing to: environments/<env>/<svc>.yaml,
// state/holds/<env>/<svc>.yaml, state/approvals/<env>/<svc> and what is
// under each, as git matches those paths (a path or a folder's contents).
func serviceOfPath(p string) (Key, bool) {
	for _, dir := range []string{"environments/", "state/holds/", "state/approvals/"} {
		rest, ok := strings.CutPrefix(p, dir)
		if !ok {
			continue
		}
		env, rest, ok := strings.Cut(rest, "/")
		if !ok {
			return Key{}, false
		}
		name, _, _ := strings.Cut(rest, "/")
		if dir != "state/approvals/" {
			if name, ok = strings.CutSuffix(name, ".yaml"); !ok {
				return Key{}, false
			}
		}
		return Key{env, name}, true
	}
	return Key{}, false
}

// Service is what Repo.Service reads at the Index's commit, read from the
// Index: the service's timeline in every environment of o.Envs and its
// delivery figures, without a walk.
func (x *Index) Service(svc string, o ServiceOptions) (*ServiceReport, error) {
	if err := x.snap.CheckService(svc); err != nil {
		return nil, err
	}
	envs := o.Envs
	if len(envs) == 0 {
		envs = x.snap.Envs()
	}
	inEnvs := map[string]bool{}
	for _, env := range envs {
		if err := x.snap.CheckEnv(env); err != nil {
			return nil, err
		}
		inEnvs[env] = true
	}
	c := &changeSet{snap: x.snap, byKey: map[Key][]Event{}, newest: x.newest}
	var tl []EnvEvent
	own, hand := x.byService[svc], x.manual
	// Newest first, as a walk lists them: merge the two lists from their ends.
	for i, j := len(own)-1, len(hand)-1; i >= 0 || j >= 0; {
		var pos int
		if j < 0 || (i >= 0 && own[i] > hand[j]) {
			pos, i = own[i], i-1
		} else {
			pos, j = hand[j], j-1
		}
		ev := x.events[pos]
		if ev.Action == "" {
			for _, env := range envs {
				if slices.Contains(ev.touched, Key{env, svc}) {
					tl = append(tl, EnvEvent{Env: env, Event: ev.Event})
				}
			}
			continue
		}
		if inEnvs[ev.Environment] || ev.Action == ActionAddService {
			for _, env := range envs {
				if ev.Environment == env || ev.Action == ActionAddService {
					tl = append(tl, EnvEvent{Env: env, Event: ev.Event})
				}
			}
		}
		// As changes() counts them.
		if ev.Action.Changes() && delivery.ValidName(ev.Environment) && delivery.ValidName(svc) {
			k := Key{ev.Environment, svc}
			c.byKey[k] = append(c.byKey[k], ev.Event)
		}
	}
	o.Metrics.Env, o.Metrics.Service = "", svc
	o.Trend.Env, o.Trend.Service = "", svc
	return &ServiceReport{Source: x.source, Commit: x.snap.Commit, Service: svc, Timeline: tl,
		Metrics: c.metrics(x.source, o.Metrics), Trend: c.trend(x.source, o.Trend)}, nil
}
