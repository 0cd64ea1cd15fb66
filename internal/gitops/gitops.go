// Package gitops writes the GitOps repository safely under concurrency: it
// clones the remote into a temporary directory, applies a Change (a function
// that edits files in the tree and says what the commit is), commits under
// the configured identity with the trailers of GITOPS-FORMAT.md, and pushes.
// When the push is rejected — another job pushed first, or a server hook
// refused it for now — it fetches the new head, resets, and applies the
// Change again to the new tree (never a textual rebase, so a concurrent edit
// of the same file is recomputed, not conflicted), with bounded attempts,
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
//     error text (TOOLS.md).
//   - Speed on large histories: a shallow single-branch clone (--depth 1)
//     of a 5,000-commit repository costs the same as of a new one, and
//     history is deepened only when a command needs it (Tree.Log). Pushing
//     from a shallow clone is routine for git; go-git's shallow support is
//     partial.
//   - Concurrency: every Apply works in its own temporary clone, so any
//     number of goroutines or processes can write at once; the server's ref
//     update is the only serialisation point, and losers re-apply.
//
// Every call that leaves the process (clone, fetch, push) runs under its own
// timeout (Options.CallTimeout) inside the total budget (Options.Budget).
package gitops

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/smp/delivery/internal/gitcmd"

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
)

// CloneDepth is how many commits a clone fetches: enough for the
// out-of-order guard to find the running deploy of a busy repository
// without a second round trip, small enough that the clone's cost does not
// grow with the repository's age. Tree.Log deepens beyond it on demand.
const CloneDepth = 64

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
}

// Repo is a GitOps remote ready to be written.
type Repo struct {
	remote   Remote
	url      string // what git is given
	opts     Options
	identity Identity
	redact   []string
}

// Open checks the remote's address and returns a Repo. It does not contact
// the remote: the first Apply does.
func Open(r Remote, id Identity, opts Options) (*Repo, error) {
	if r.URL == "" {
		return nil, fmt.Errorf("%w: no GitOps repository given: pass --gitops URL|PATH or set SMP_GITOPS", ErrRemoteNotFound)
	}
	if r.Branch == "" {
		r.Branch = "main"
	}
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
	if id.Name == "" || id.Email == "" {
		return nil, errors.New("commit identity needs a name and an email")
	}
	repo := &Repo{remote: r, opts: opts, identity: id}
	u, err := normalizeURL(r.URL)
	if err != nil {
		return nil, err
	}
	repo.url = u
	if u, err := url.Parse(r.URL); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			repo.redact = append(repo.redact, pw)
		}
	}
	if r.Token != "" {
		repo.redact = append(repo.redact, r.Token, base64.StdEncoding.EncodeToString([]byte("x-access-token:"+r.Token)))
	}
	return repo, nil
}

// String names the remote without credentials.
func (r *Repo) String() string { return redactURL(r.remote.URL) }

// normalizeURL turns a local path into an absolute file:// URL: git ignores
// --depth for plain local paths and hard-links the whole object store, and
// file:// also runs the remote's hooks exactly like a server.
func normalizeURL(raw string) (string, error) {
	switch {
	case strings.HasPrefix(raw, "https://"), strings.HasPrefix(raw, "http://"),
		strings.HasPrefix(raw, "ssh://"), strings.HasPrefix(raw, "git://"):
		if _, err := url.Parse(raw); err != nil {
			return "", fmt.Errorf("%w: %s is not a valid URL", ErrRemoteNotFound, redactURL(raw))
		}
		return raw, nil
	case strings.HasPrefix(raw, "file://"):
		p := strings.TrimPrefix(raw, "file://")
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s does not exist: create it with `git init --bare` and `smpctl gitops init`, or fix --gitops", ErrRemoteNotFound, p)
		}
		return raw, nil
	case isSCP(raw):
		return raw, nil
	}
	abs, err := filepath.Abs(raw)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrRemoteNotFound, raw, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return "", fmt.Errorf("%w: %s does not exist: create it with `git init --bare` and `smpctl gitops init`, or fix --gitops", ErrRemoteNotFound, abs)
	}
	return "file://" + abs, nil
}

// isSCP recognises git@github.com:smp/smp-gitops.git.
func isSCP(s string) bool {
	colon := strings.Index(s, ":")
	if colon <= 0 || strings.ContainsAny(s[:colon], "/\\") {
		return false
	}
	return strings.Contains(s[:colon], "@") || strings.Contains(s[:colon], ".")
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || u.User == nil {
		return s
	}
	return u.Redacted()
}

// Commit is what a Change asks to be committed.
type Commit struct {
	Subject  string
	Trailers []Trailer
	// Identity overrides the Repo's identity for this commit (for example
	// the one delivery.yaml names); zero keeps the Repo's.
	Identity Identity
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
	return b.String()
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// Change edits the tree for one attempt. It is called once per attempt on
// a fresh checkout of the newest head, so it must derive everything from
// the tree (and its own arguments), not from an earlier attempt. Returning
// an error aborts the Apply without retrying.
type Change func(ctx context.Context, t *Tree) (Commit, error)

// Result says what Apply did.
type Result struct {
	Commit   string `json:"commit"`
	Subject  string `json:"subject"`
	Attempts int    `json:"attempts"`
}

// Apply clones the remote, applies change, commits and pushes, re-applying
// on a rejected push. It returns ErrNoChange (wrapped) when the change left
// the tree as it was.
func (r *Repo) Apply(ctx context.Context, change Change) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, r.opts.Budget)
	defer cancel()
	t, cleanup, err := r.checkout(ctx)
	if err != nil {
		return Result{}, err
	}
	defer cleanup()
	delay := r.opts.RetryDelay
	var lastPush error
	for attempt := 1; attempt <= r.opts.Attempts; attempt++ {
		started := time.Now()
		if attempt > 1 {
			if err := r.refresh(ctx, t); err != nil {
				return Result{}, err
			}
		}
		c, err := change(ctx, t)
		if err != nil {
			return Result{}, err
		}
		sha, err := r.commit(ctx, t, c)
		if err != nil {
			return Result{}, err
		}
		err = r.push(ctx, t)
		if err == nil {
			return Result{Commit: sha, Subject: c.Subject, Attempts: attempt}, nil
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

// Read clones the remote and calls read on the tree; nothing is written.
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

// httpDenied matches git's report of an HTTP 401 or 403.
var httpDenied = regexp.MustCompile(`returned error: 40[13]\b|\bhttp 40[13]\b`)

func (r *Repo) checkout(ctx context.Context) (*Tree, func(), error) {
	dir, err := os.MkdirTemp("", "smpctl-gitops-")
	if err != nil {
		return nil, nil, fmt.Errorf("create a temporary clone directory: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	t := &Tree{dir: dir, repo: r}
	_, err = r.remoteGit(ctx, "", "clone", "--quiet", "--depth", strconv.Itoa(CloneDepth), "--single-branch", "--no-tags",
		"--branch", r.remote.Branch, r.url, dir)
	if err != nil {
		cleanup()
		return nil, nil, r.classify("clone", err)
	}
	return t, cleanup, nil
}

// refresh moves the clone to the remote's newest head and drops the
// previous attempt's work: the files it wrote are deleted first so that
// reset --hard restores the tracked ones and new ones are gone.
func (r *Repo) refresh(ctx context.Context, t *Tree) error {
	// No --depth: fetch only what is new since our clone, keeping any
	// history an earlier attempt deepened.
	if _, err := r.remoteGit(ctx, t.dir, "fetch", "--quiet", "--no-tags", "origin",
		"+refs/heads/"+r.remote.Branch+":refs/remotes/origin/"+r.remote.Branch); err != nil {
		return r.classify("fetch", err)
	}
	for p := range t.touched {
		if err := os.RemoveAll(filepath.Join(t.dir, filepath.FromSlash(p))); err != nil {
			return fmt.Errorf("reset %s: %w", p, err)
		}
	}
	t.touched, t.created = nil, nil
	_, err := r.git(ctx, t.dir, nil, "reset", "--quiet", "--hard", "origin/"+r.remote.Branch)
	return err
}

func (r *Repo) commit(ctx context.Context, t *Tree, c Commit) (string, error) {
	if len(t.touched) == 0 {
		return "", fmt.Errorf("%s: %w", c.Subject, ErrNoChange)
	}
	paths := make([]string, 0, len(t.touched))
	for p := range t.touched {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	// Every process counts on a busy CI runner: `git commit -- paths`
	// stages tracked files itself, so `git add` runs only for new files.
	if len(t.created) > 0 {
		if _, err := r.git(ctx, t.dir, nil, append([]string{"add", "--"}, paths...)...); err != nil {
			return "", err
		}
	}
	args := append([]string{"commit", "--quiet", "--no-verify", "--file", "-", "--"}, paths...)
	_, err := r.gitAs(ctx, t.dir, c.Identity, []byte(c.Message()), args...)
	if err != nil {
		if strings.Contains(err.Error(), "nothing to commit") || strings.Contains(err.Error(), "nothing added to commit") ||
			strings.Contains(err.Error(), "no changes added to commit") {
			return "", fmt.Errorf("%s: %w", c.Subject, ErrNoChange)
		}
		return "", err
	}
	return t.head(ctx)
}

func (r *Repo) push(ctx context.Context, t *Tree) error {
	out, err := r.remoteGit(ctx, t.dir, "push", "--porcelain", "origin", "HEAD:refs/heads/"+r.remote.Branch)
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
	// A rejection is retried: a non-fast-forward ("fetch first", "stale
	// info") or a hook that declined (a busy server, a lock).
	if strings.Contains(msg, "[rejected]") || strings.Contains(msg, "[remote rejected]") ||
		strings.Contains(msg, "non-fast-forward") || strings.Contains(msg, "fetch first") ||
		strings.Contains(msg, "hook declined") || strings.Contains(msg, "cannot lock ref") {
		return fmt.Errorf("%w: %s", errRetry, r.scrub(rejection(msg)))
	}
	return r.classify("push", err)
}

// classify maps a failed remote call to a sentinel, with the remote named
// and the credentials scrubbed.
func (r *Repo) classify(op string, err error) error {
	msg := r.scrub(err.Error())
	low := strings.ToLower(msg)
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s %s: timed out: %w", op, r, err)
	case strings.Contains(low, "remote branch") && strings.Contains(low, "not found"):
		return fmt.Errorf("%w: %s %s: branch %q does not exist; run `smpctl gitops init` first", ErrNoBranch, op, r, r.remote.Branch)
	case strings.Contains(low, "does not appear to be a git repository"), strings.Contains(low, "repository not found"),
		strings.Contains(low, "no such file"), strings.Contains(low, "could not resolve host"):
		return fmt.Errorf("%w: %s %s: %s; check --gitops", ErrRemoteNotFound, op, r, lastLines(msg, 2))
	case strings.Contains(low, "authentication failed"), strings.Contains(low, "could not read username"),
		strings.Contains(low, "permission denied"), httpDenied.MatchString(low):
		return fmt.Errorf("%w: %s %s: %s; check SMP_GIT_TOKEN (https) or your ssh agent", ErrAuth, op, r, lastLines(msg, 2))
	case strings.Contains(low, "not found"), strings.Contains(low, "could not read from remote"):
		return fmt.Errorf("%w: %s %s: %s; check --gitops", ErrRemoteNotFound, op, r, lastLines(msg, 2))
	}
	return fmt.Errorf("%s %s: %s", op, r, msg)
}

func (r *Repo) scrub(s string) string {
	for _, secret := range r.redact {
		if secret != "" {
			s = strings.ReplaceAll(s, secret, "[REDACTED]")
		}
	}
	return s
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
	return r.run(ctx, r.runner(dir, r.opts.CallTimeout, Identity{}), nil, args...)
}

// git runs a local git command in the throwaway clone; only ctx bounds it.
func (r *Repo) git(ctx context.Context, dir string, stdin []byte, args ...string) (string, error) {
	return r.gitAs(ctx, dir, Identity{}, stdin, args...)
}

func (r *Repo) gitAs(ctx context.Context, dir string, as Identity, stdin []byte, args ...string) (string, error) {
	return r.run(ctx, r.runner(dir, -1, as), stdin, args...)
}

// run runs git and reports a failure by its subcommand alone (the rest
// names temporary paths) with what git printed on both streams — `git
// commit` says "nothing to commit" on standard output — and the
// credentials scrubbed.
func (r *Repo) run(ctx context.Context, g gitcmd.Runner, stdin []byte, args ...string) (string, error) {
	out, err := g.RunInput(ctx, stdin, args...)
	var ge *gitcmd.Error
	if errors.As(err, &ge) {
		return string(out), fmt.Errorf("git %s: %w: %s", args[0], ge.Err, r.scrub(strings.TrimSpace(ge.Stderr+"\n"+ge.Stdout)))
	}
	return string(out), err
}

// runner is git with a controlled environment: no prompts, the commit
// identity (as, when it is whole, else the Repo's), ssh in batch mode, and
// the token as an extra http header.
func (r *Repo) runner(dir string, timeout time.Duration, as Identity) gitcmd.Runner {
	id := r.identity
	if as.Name != "" && as.Email != "" {
		id = as
	}
	sshCmd := "ssh -o BatchMode=yes"
	if r.remote.SSHCommand != "" {
		sshCmd = r.remote.SSHCommand
	}
	cfg := map[string]string{
		"core.sshCommand":     sshCmd,
		"advice.detachedHead": "false",
		"init.defaultBranch":  r.remote.Branch,
		"protocol.version":    "2",
		// The clone is thrown away: no background gc or maintenance,
		// which would also outlive the command and hold its pipes.
		"gc.auto":          "0",
		"maintenance.auto": "false",
	}
	if r.remote.Token != "" {
		cfg["http.extraHeader"] = "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte("x-access-token:"+r.remote.Token))
	}
	env := []string{
		"GIT_ASKPASS=true",
		"GCM_INTERACTIVE=never",
		"GIT_AUTHOR_NAME=" + id.Name,
		"GIT_AUTHOR_EMAIL=" + id.Email,
		"GIT_COMMITTER_NAME=" + id.Name,
		"GIT_COMMITTER_EMAIL=" + id.Email,
	}
	if r.remote.CAFile != "" {
		cfg["http.sslCAInfo"] = r.remote.CAFile
		// GIT_SSL_CAINFO, when the caller's environment sets it, beats
		// http.sslCAInfo; the explicit option must win.
		env = append(env, "GIT_SSL_CAINFO="+r.remote.CAFile)
	}
	return gitcmd.Runner{Dir: dir, Timeout: timeout, Config: cfg, Env: env}
}
