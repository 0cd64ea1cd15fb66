// Package gitops owns the GitOps repository's remote: how it is reached
// (Classify: local paths, file://, https with a token in git's environment,
// ssh through the agent), its credentials (never on argv, scrubbed from
// every message), one cached mirror per remote shared by every command and
// process (Mirror), and writing it safely under concurrency.
//
// A write fetches the mirror, opens a Tree of the branch's head (read from
// the object store through one `git cat-file --batch`: nothing is checked
// out), applies a Change (a function that edits files in the tree and says
// what the commit is), commits the edits under the configured identity
// with the trailers of docs/gitops-format.md with one `git fast-import`, and
// pushes the commit. Writers sharing a cache take turns (Mirror.writing);
// when the push is rejected — another job pushed first, or a server hook
// refused it for now — it fetches the new head and applies the Change
// again to the new tree (never a textual rebase, so a concurrent edit of
// the same file is recomputed, not conflicted), with bounded attempts,
// jittered exponential back-off and a total time budget. A Change that
// leaves the tree as it was yields ErrNoChange and no commit.
//
// # Why the git CLI and not go-git
//
// We drive git 2.39 through os/exec. The reasons, in order of weight:
//   - Remote kinds: the CLI speaks local paths, file://, https (token sent as
//     an http.extraHeader through GIT_CONFIG_* environment variables, so it
//     is neither in argv nor in any message) and ssh through the user's agent
//     and ssh config, exactly as engineers and CI already use them. go-git's
//     ssh transport needs its own agent and known_hosts plumbing.
//   - Hooks and rejections: a push through the CLI runs the real
//     receive-pack with its pre-receive/update hooks and reports rejections
//     in a stable porcelain format; go-git reports a rejected push only as
//     error text (docs/tools.md).
//   - Speed on large histories: the mirror is fetched, not cloned, and a
//     write works in a scratch repository that borrows its objects, so it
//     costs one fetch, one cat-file, one fast-import and one push whatever
//     the repository's size and age, and the whole history is at hand for
//     Tree.Log.
//   - Concurrency: every Apply works in its own scratch repository, so any
//     number of goroutines or processes can write at once; the mirror is
//     changed only under its file lock, writers sharing it take turns, the
//     server's ref update is the only serialisation point between
//     machines, and losers re-apply.
//
// Every call that leaves the process (clone, fetch, push) runs under its own
// timeout (Options.CallTimeout) inside the total budget (Options.Budget).
package gitops

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/smp/delivery/internal/fault"
)

// Sentinel errors. Each fault wraps its kind (package fault).
var (
	// ErrNoChange: the Change left the tree as it was; nothing was committed.
	// An outcome ("already done"), not a fault: it carries no fault kind.
	ErrNoChange = errors.New("nothing to commit")
	// ErrRemoteNotFound: the remote does not exist or is not a git repository.
	ErrRemoteNotFound = fault.Invalidf("GitOps remote not found")
	// ErrAuth: the remote refused the credentials.
	ErrAuth = fault.Refusedf("GitOps remote refused the credentials")
	// ErrRejected: every push attempt was rejected within the budget.
	ErrRejected = fault.Refusedf("push rejected")
	// ErrNoBranch: the remote has no such branch yet.
	ErrNoBranch = fault.Invalidf("GitOps remote has no such branch")
	// ErrPermanent: the remote refused the push for a reason waiting does
	// not change (a protected branch, a ruleset, missing permission).
	ErrPermanent = fault.Refusedf("push refused")
)

// AlreadyAppliedError says a change with the same ChangeID is already on
// the branch, as Commit; nothing was written. It wraps ErrNoChange, so a
// caller that treats "nothing to commit" as done does the same here.
type AlreadyAppliedError struct {
	ChangeID, Commit, Subject string
}

func (e *AlreadyAppliedError) Error() string {
	return fmt.Sprintf("change %s is already on the branch as %.12s (%s)", e.ChangeID, e.Commit, e.Subject)
}

// Unwrap makes errors.Is(err, ErrNoChange) true.
func (e *AlreadyAppliedError) Unwrap() error { return ErrNoChange }

// DefaultRetryDelay is the least first back-off after a rejected push. The
// back-off starts at the larger of it and the failed attempt's duration
// (at most 20× it), doubles each attempt up to maxRetryDelay, with ±50%
// jitter. Tests shorten it, and with it every back-off.
var DefaultRetryDelay = 100 * time.Millisecond

const maxRetryDelay = 8 * time.Second

// Identity is the author and committer of every commit.
type Identity struct {
	Name  string
	Email string
}

// Remote says where the GitOps repository is and how to reach it.
type Remote struct {
	// URL is a local path, file://, https:// or ssh (ssh:// or user@host:path).
	URL string
	// Branch to write; default main.
	Branch string
	// Token authenticates https remotes (as x-access-token). Never printed.
	Token string
	// CAFile trusts an extra certificate authority for https remotes.
	CAFile string
	// SSHCommand replaces "ssh -o BatchMode=yes" for ssh remotes (a
	// GIT_SSH_COMMAND in the environment still wins, as in git).
	SSHCommand string
}

// Options tune retries and timeouts. The zero value gives the defaults.
type Options struct {
	// Attempts is the maximum number of push attempts; default 30: with
	// N writers racing, the last one needs about N attempts, and the
	// budget is the real bound.
	Attempts int
	// Budget bounds a whole Apply, retries included; default 2 minutes.
	Budget time.Duration
	// CallTimeout bounds each clone, fetch and push; default 60 seconds.
	CallTimeout time.Duration
	// RetryDelay is the first back-off; default DefaultRetryDelay.
	RetryDelay time.Duration
	// Log receives debug lines about attempts; default discards.
	Log *slog.Logger
	// CacheDir holds the mirror every command shares (see Mirror); empty
	// means a temporary mirror per Apply or Read.
	CacheDir string
	// Signer, when set, signs every commit (git's SSH signing); nil
	// commits unsigned.
	Signer Signer
	// Author, when set, is the author and committer of every commit, over
	// a Commit's own Identity (delivery.yaml's): what a person names on the
	// command line (--git-author-*) wins for every commit the command makes.
	Author *Identity
	// Trailers are added to every commit, after its own: what the command
	// proved of who runs it (the CI run's verified OIDC claims).
	Trailers []Trailer
}

// Repo is a GitOps remote ready to be written.
type Repo struct {
	c        *conn
	opts     Options
	identity Identity
}

// Open checks the remote's address and returns a Repo. It does not contact
// the remote: the first Apply does.
func Open(r Remote, id Identity, opts Options) (*Repo, error) {
	if opts.Attempts <= 0 {
		opts.Attempts = 30
	}
	if opts.Budget <= 0 {
		opts.Budget = 2 * time.Minute
	}
	if opts.CallTimeout <= 0 {
		opts.CallTimeout = 60 * time.Second
	}
	if opts.RetryDelay <= 0 {
		opts.RetryDelay = DefaultRetryDelay
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	c, err := newConn(r)
	if err != nil {
		return nil, err
	}
	if id.Name == "" || id.Email == "" {
		return nil, errors.New("commit identity needs a name and an email")
	}
	return &Repo{c: c, opts: opts, identity: id}, nil
}

// String names the remote without credentials.
func (r *Repo) String() string { return r.c.String() }

// Commit is what a Change asks to be committed.
type Commit struct {
	Subject  string
	Trailers []Trailer
	// ChangeID identifies the change across attempts and re-runs; it is
	// written as the Change-Id trailer. Empty means Apply makes one up,
	// unique to the Apply. A caller that may run the same change twice (a
	// CI job re-run, a person retrying after a lost acknowledgement) gives
	// its own: a change whose id is already on the branch is not applied
	// again (ErrAlreadyApplied).
	ChangeID string
	// Identity overrides the Repo's identity for this commit (for example
	// the one delivery.yaml names); zero keeps the Repo's.
	Identity Identity
}

// sameChangeAs refuses a change whose id is already on the branch for
// another change: a leftover or copied id (an SMP_CHANGE_ID left in a
// shell, a CI id reused for another environment) would otherwise report
// "already landed", exit 0, with nothing written. The same change run
// again writes to the same environment and service. Its image is not
// compared: a CI re-run of the whole workflow may build the same commit
// again into another digest, and a rollback's re-run resolves its target
// on the head its first run moved; the id is what says "the same change".
func (c Commit) sameChangeAs(rev Revision) error {
	tr := map[string]string{}
	for _, t := range c.Trailers {
		tr[t.Key] = oneLine(t.Value)
	}
	for _, k := range []string{"Environment", "Service"} {
		if now, then := tr[k], rev.Trailers[k]; now != "" && then != "" && now != then {
			return fault.Inputf("ChangeID", "change id %s is already on the branch as %.12s (%s), whose %s is %s; this change's is %s: nothing written. A change id names one change: give this one its own (a new --change-id, or unset SMP_CHANGE_ID)",
				c.ChangeID, rev.Hash, rev.Subject, k, then, now)
		}
	}
	return nil
}

// Trailer is one "Key: value" line of the commit's trailer block.
type Trailer struct{ Key, Value string }

// Message renders the commit message: subject, blank line, trailers. Values
// are put on one line, so a trailer cannot be forged through a newline in
// user input (a --reason, say).
func (c Commit) Message() string {
	var b strings.Builder
	b.WriteString(oneLine(c.Subject))
	b.WriteString("\n")
	first := true
	for _, t := range c.Trailers {
		if t.Value == "" {
			continue
		}
		if first {
			b.WriteString("\n")
			first = false
		}
		fmt.Fprintf(&b, "%s: %s\n", t.Key, oneLine(t.Value))
	}
	if c.ChangeID != "" {
		if first {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "Change-Id: %s\n", oneLine(c.ChangeID))
	}
	return b.String()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Change edits the tree for one attempt. It is called once per attempt on
// a fresh Tree of the newest head, so it must derive everything from
// the tree (and its own arguments), not from an earlier attempt. Returning
// an error aborts the Apply without retrying.
type Change func(ctx context.Context, t *Tree) (Commit, error)

// Result says what Apply did.
type Result struct {
	Commit   string `json:"commit"`
	Subject  string `json:"subject"`
	Attempts int    `json:"attempts"`
	// Recovered: the push reported a failure (a timeout, a dropped
	// connection) but the remote had the commit when asked.
	Recovered bool `json:"recovered,omitempty"`
}

// Apply fetches the remote, applies change, commits and pushes, re-applying
// on a rejected push. It returns ErrNoChange (wrapped) when the change left
// the tree as it was.
func (r *Repo) Apply(ctx context.Context, change Change) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Budget)
	defer cancel()
	t, cleanup, err := r.open()
	if err != nil {
		return Result{}, err
	}
	defer cleanup()
	delay := r.opts.RetryDelay
	var lastPush error
	generated := newChangeID()
	for attempt := 1; attempt <= r.opts.Attempts; attempt++ {
		var started time.Time
		var res Result
		err := t.mirror.writing(ctx, func() error {
			started = time.Now()
			if err := r.load(ctx, t); err != nil {
				return err
			}
			c, err := change(ctx, t)
			if err != nil {
				return err
			}
			if c.ChangeID == "" {
				c.ChangeID = generated
			} else if rev, found, err := t.findChange(ctx, c.ChangeID); err != nil {
				return err
			} else if found {
				if err := c.sameChangeAs(rev); err != nil {
					return err
				}
				return &AlreadyAppliedError{ChangeID: c.ChangeID, Commit: rev.Hash, Subject: rev.Subject}
			}
			sha, err := r.commit(ctx, t, c)
			if err != nil {
				return err
			}
			res = Result{Commit: sha, Subject: c.Subject, Attempts: attempt}
			perr := r.push(ctx, t, sha)
			if perr == nil || errors.Is(perr, errRetry) || errors.Is(perr, ErrPermanent) || errors.Is(perr, ErrAuth) || errors.Is(perr, ErrRemoteNotFound) {
				return perr
			}
			// The push may have landed although git said otherwise: ask.
			ok, lerr := r.landed(ctx, t, sha)
			switch {
			case ok:
				r.opts.Log.Warn("the push's acknowledgement was lost, but the remote has the commit", "remote", r.String(), "commit", sha, "err", perr)
				res.Recovered = true
				return nil
			case lerr != nil:
				return fmt.Errorf("%w; whether the commit %.12s (Change-Id %s) landed could not be checked (%w): look at the branch before writing again", perr, sha, c.ChangeID, lerr)
			}
			return perr
		})
		if err == nil {
			return res, nil
		}
		if !errors.Is(err, errRetry) {
			return Result{}, err
		}
		lastPush = err
		r.opts.Log.Debug("push rejected; re-applying on the new head", "remote", r.String(), "attempt", attempt, "err", err)
		// Back off from at least one attempt's duration: racing writers
		// collide while one attempt is in flight, so spreading them over
		// a few attempt lengths (with ±50% jitter) lets each one through
		// instead of making all of them lose again.
		delay = max(delay, min(time.Since(started), 20*r.opts.RetryDelay))
		sleep := time.Duration(float64(delay) * (0.5 + rand.Float64())) // #nosec G404 -- jitter, not security
		select {
		case <-ctx.Done():
			return Result{}, fmt.Errorf("%w: %s: gave up after %d attempts within %s: %w", ErrRejected, r, attempt, r.opts.Budget, lastPush)
		case <-time.After(sleep):
		}
		delay = min(delay*2, maxRetryDelay)
	}
	return Result{}, fmt.Errorf("%w: %s: gave up after %d attempts: %w", ErrRejected, r, r.opts.Attempts, lastPush)
}

// Read brings the mirror up to date and calls read on a Tree of the
// branch's head; nothing is written.
func (r *Repo) Read(ctx context.Context, read func(ctx context.Context, t *Tree) error) error {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Budget)
	defer cancel()
	t, cleanup, err := r.checkout(ctx)
	if err != nil {
		return err
	}
	defer cleanup()
	return read(ctx, t)
}

var errRetry = errors.New("retry")

// open makes the Tree of a write: the mirror and a scratch repository
// borrowing its objects. Nothing is fetched or read yet.
func (r *Repo) open() (*Tree, func(), error) {
	m, err := r.c.mirror(r.opts.CacheDir)
	if err != nil {
		return nil, nil, err
	}
	s, err := newScratch(m.dir)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	t := &Tree{repo: r, scratch: s, mirror: m}
	cleanup := func() {
		if t.objects != nil {
			t.objects.close()
		}
		s.remove()
		m.Close()
	}
	return t, cleanup, nil
}

// checkout opens a Tree of the branch's newest head.
func (r *Repo) checkout(ctx context.Context) (*Tree, func(), error) {
	t, cleanup, err := r.open()
	if err != nil {
		return nil, nil, err
	}
	if err := r.load(ctx, t); err != nil {
		cleanup()
		return nil, nil, err
	}
	return t, cleanup, nil
}

// load fetches the mirror and points the Tree at the branch's newest head,
// dropping any earlier attempt's edits. A mirror whose objects cannot be
// read is rebuilt, once.
func (r *Repo) load(ctx context.Context, t *Tree) error {
	m := t.mirror
	if err := m.Fetch(ctx, r.opts.CallTimeout); err != nil {
		return err
	}
	err := r.reset(ctx, t)
	if err != nil && !errors.Is(err, ErrNoBranch) && ctx.Err() == nil {
		r.opts.Log.Debug("the GitOps cache is damaged; rebuilding it", "remote", r.String(), "err", err)
		m.Invalidate(ctx)
		if err = m.Fetch(ctx, r.opts.CallTimeout); err == nil {
			err = r.reset(ctx, t)
		}
	}
	return err
}

// reset points the Tree at the branch's head in the mirror, which the
// caller has just fetched, and drops the previous attempt's edits.
func (r *Repo) reset(ctx context.Context, t *Tree) error {
	tip, err := t.mirror.tip(ctx, "refs/heads/"+r.c.remote.Branch)
	if err != nil {
		return fmt.Errorf("%w: %s: branch %q does not exist; run `smpctl gitops init` first", ErrNoBranch, r, r.c.remote.Branch)
	}
	// A fresh cat-file per head: it sees the objects the fetch brought
	// whatever git's pack-directory caching does.
	if t.objects != nil {
		t.objects.close()
	}
	if err := t.scratch.matchFormat(t.mirror.dir); err != nil {
		return err
	}
	if t.objects, err = r.startReader(ctx, t.scratch.dir); err != nil {
		return err
	}
	_, root, err := t.objects.tree(tip + "^{tree}")
	if err != nil {
		return fmt.Errorf("read %s from the GitOps cache %s: %w", tip, t.mirror.dir, err)
	}
	t.head, t.root, t.edits = tip, root, nil
	return nil
}

// commit writes the attempt's edits as one commit on the Tree's head with
// one `git fast-import` (blobs, the trees on the changed paths, the
// commit) into the scratch repository, and returns the commit's hash.
func (r *Repo) commit(ctx context.Context, t *Tree, c Commit) (string, error) {
	changes, err := t.changes()
	if err != nil {
		return "", err
	}
	if len(changes) == 0 {
		return "", fmt.Errorf("%s: %w", c.Subject, ErrNoChange)
	}
	id := r.identity
	switch {
	case r.opts.Author != nil:
		id = *r.opts.Author
	case c.Identity.Name != "" && c.Identity.Email != "":
		id = c.Identity
	}
	now := time.Now()
	who := fmt.Sprintf("%s <%s> %d %s", identPart(id.Name), identPart(id.Email), now.Unix(), now.Format("-0700"))
	c.Trailers = append(slices.Clip(c.Trailers), r.opts.Trailers...)
	msg := c.Message()
	var in bytes.Buffer
	// The ref is the scratch repository's own; --force because a retry
	// writes it again on another parent.
	fmt.Fprintf(&in, "commit refs/heads/smpctl-write\nmark :1\nauthor %s\ncommitter %s\ndata %d\n%s\nfrom %s\n", who, who, len(msg), msg, t.head)
	for _, ch := range changes {
		if ch.removed {
			fmt.Fprintf(&in, "D %s\n", quotePath(ch.path))
			continue
		}
		fmt.Fprintf(&in, "M %s inline %s\ndata %d\n", ch.mode, quotePath(ch.path), len(ch.content))
		in.Write(ch.content)
		in.WriteString("\n")
	}
	in.WriteString("\nget-mark :1\ndone\n")
	out, err := r.git(ctx, t.scratch.dir, in.Bytes(), "fast-import", "--quiet", "--force", "--done")
	if err != nil {
		return "", fmt.Errorf("commit %s: %w", c.Subject, err)
	}
	sha := strings.TrimSpace(out)
	if len(sha) != 40 && len(sha) != 64 {
		return "", fmt.Errorf("commit %s: git fast-import printed %q", c.Subject, sha)
	}
	if r.opts.Signer != nil {
		return r.sign(ctx, t, sha)
	}
	return sha, nil
}

// identPart drops what git would refuse in a name or an email.
func identPart(s string) string {
	return strings.TrimSpace(strings.Map(func(r rune) rune {
		if r == '<' || r == '>' || r == '\n' {
			return -1
		}
		return r
	}, s))
}

// quotePath writes a path for fast-import: as is, unless it needs git's C
// quoting (a quote first, a newline, a backslash or a control byte).
func quotePath(p string) string {
	if !strings.HasPrefix(p, "\"") && !strings.ContainsFunc(p, func(r rune) bool { return r < 0x20 || r == '\\' || r == 0x7f }) {
		return p
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c == 0x7f:
			fmt.Fprintf(&b, "\\%03o", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func (r *Repo) push(ctx context.Context, t *Tree, sha string) error {
	out, err := r.remoteGit(ctx, t.scratch.dir, "push", "--porcelain", r.c.url, sha+":refs/heads/"+r.c.remote.Branch)
	if err == nil {
		if strings.Contains(out, "[up to date]") {
			// Another writer pushed a byte-identical commit (same parent,
			// tree, message and second): re-apply on the new head, which
			// either finds nothing to do or makes a distinct commit.
			return fmt.Errorf("%w: an identical commit is already on the remote", errRetry)
		}
		return nil
	}
	msg := out + " " + err.Error()
	if p := permanentRejection(msg); p != "" {
		return fmt.Errorf("%w: %s: %s; this is not retried: ask who administers the repository, or push to a branch you may write", ErrPermanent, r, r.c.scrub(rejection(msg)))
	}
	// A rejection is retried: a non-fast-forward ("fetch first", "stale
	// info") or a hook that declined (a busy server, a lock).
	if strings.Contains(msg, "[rejected]") || strings.Contains(msg, "[remote rejected]") ||
		strings.Contains(msg, "non-fast-forward") || strings.Contains(msg, "fetch first") ||
		strings.Contains(msg, "hook declined") || strings.Contains(msg, "cannot lock ref") {
		return fmt.Errorf("%w: %s", errRetry, r.c.scrub(rejection(msg)))
	}
	return r.c.classify("push", err)
}

// permanentMarkers are what servers say when a push is refused for good:
// GitHub's protected branches (GH006) and rulesets (GH013), GitLab's and
// Gitea's protected branches, a missing permission, a non-bare remote's
// checked-out branch. Retrying these for the whole budget only delays the
// answer.
var permanentMarkers = []string{
	"protected branch", "gh006", "gh013", "gh007", "permission to", "not allowed to push",
	"denied to", "refusing to update checked out branch", "you are not allowed",
}

// permanentRejection returns the marker msg contains, or "".
func permanentRejection(msg string) string {
	low := strings.ToLower(msg)
	for _, m := range permanentMarkers {
		if strings.Contains(low, m) {
			return m
		}
	}
	return ""
}

// landed asks the remote whether sha reached the branch. A push whose
// acknowledgement was lost — a timeout, a dropped connection, a slow
// post-receive hook — may have landed all the same; reporting it as failed
// would have the person (or CI) write again, and a rollback re-run would
// roll back twice. It runs under its own CallTimeout: the push may have
// used up the caller's.
func (r *Repo) landed(ctx context.Context, t *Tree, sha string) (bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.opts.CallTimeout)
	defer cancel()
	out, err := r.remoteGit(ctx, t.scratch.dir, "ls-remote", r.c.url, "refs/heads/"+r.c.remote.Branch)
	if err != nil {
		return false, r.c.classify("ls-remote", err)
	}
	f := strings.Fields(out)
	switch {
	case len(f) == 0:
		return false, nil
	case f[0] == sha:
		return true, nil
	}
	// Another writer may have pushed on top of ours since: look in the
	// branch's history.
	if err := t.mirror.Fetch(ctx, r.opts.CallTimeout); err != nil {
		return false, err
	}
	_, err = r.git(ctx, t.scratch.dir, nil, "merge-base", "--is-ancestor", sha, f[0])
	return err == nil, nil
}

// newChangeID makes a change id: 16 random bytes in hex.
func newChangeID() string {
	var b [16]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// rejection keeps what the server said (remote: lines) and git's verdict.
func rejection(msg string) string {
	var keep []string
	for _, l := range strings.Split(msg, "\n") {
		if i := strings.Index(l, "remote:"); i >= 0 {
			keep = append(keep, strings.TrimSpace(l[i:]))
		} else if strings.Contains(l, "rejected") {
			keep = append(keep, strings.TrimSpace(l))
		}
	}
	if len(keep) == 0 {
		return lastLines(msg, 3)
	}
	return strings.Join(keep, "; ")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	var keep []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" && l != "Done" {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, "; ")
}

// remoteGit runs a git command that talks to the remote, under CallTimeout,
// with the credentials in the environment only.
func (r *Repo) remoteGit(ctx context.Context, dir string, args ...string) (string, error) {
	return r.c.run(ctx, r.c.runner(dir, r.opts.CallTimeout, r.identityEnv(Identity{})...), nil, args...)
}

// git runs a local git command in the scratch repository; only ctx bounds it.
func (r *Repo) git(ctx context.Context, dir string, stdin []byte, args ...string) (string, error) {
	return r.gitAs(ctx, dir, Identity{}, stdin, args...)
}

func (r *Repo) gitAs(ctx context.Context, dir string, as Identity, stdin []byte, args ...string) (string, error) {
	return r.c.run(ctx, r.c.runner(dir, -1, r.identityEnv(as)...), stdin, args...)
}

// identityEnv is the commit identity: as, when it is whole, else the Repo's.
func (r *Repo) identityEnv(as Identity) []string {
	id := r.identity
	if as.Name != "" && as.Email != "" {
		id = as
	}
	return []string{
		"GIT_AUTHOR_NAME=" + id.Name,
		"GIT_AUTHOR_EMAIL=" + id.Email,
		"GIT_COMMITTER_NAME=" + id.Name,
		"GIT_COMMITTER_EMAIL=" + id.Email,
	}
}
