package write

// Soak and the deploy queue (issue #17 part 3, docs/soak.md).
//
// An environment with `soak: D` in delivery.yaml takes only a version that
// ran D in the environment before it with its metric gate passing, recorded
// in state/soaks/<env>/<svc>/<version>.yaml. While the version running in
// an environment is such a candidate (it soaks), an automated deploy to
// that environment would restart the clock: under churn (a deploy every few
// minutes against a 30m soak) nothing would ever reach the next
// environment. So QueueOrDeploy records the deploy in
// state/queue/<env>/<svc>.yaml instead, and DrainQueue deploys it once the
// soak ended. One file per service keeps only the newest queued deploy —
// the older one would be deployed and replaced at once — and the commit
// that replaces it names it (Superseded), so none is lost from history.

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/statefile"
	"github.com/smp/delivery/internal/image/imageref"
)

// Soak is state/soaks/<env>/<svc>/<version>.yaml (package statefile owns the type).
type Soak = statefile.Soak

// Queued is state/queue/<env>/<svc>.yaml (package statefile owns the type).
type Queued = statefile.Queued

func soakPath(env, svc, version string) string {
	return "state/soaks/" + env + "/" + svc + "/" + version + ".yaml"
}
func queuePath(env, svc string) string { return "state/queue/" + env + "/" + svc + ".yaml" }

// soakGrace is how many times its soak a candidate holds the queue without
// a record. A watch records at the end of the window, so the queue must
// wait somewhat past it; but a watch that never records (it crashed, or
// the gate failed with onGateFailure: notify) must not hold the queue
// forever — that would starve the environment in the other direction.
const soakGrace = 2

// SoakRequest records that a version soaked in an environment.
type SoakRequest struct {
	Common
	Env, Service, Version string
	// Digest soaked; default: the digest Env runs. A version Env does not
	// run is refused.
	Digest string
	// Since and Until bound the window the gate passed the whole time.
	// Since defaults to when the version was deployed to Env, Until to
	// Common.Now. Since may not be before the deploy.
	Since, Until time.Time
	// Gate is the gate's figures (error rate, p95), kept in the record for
	// a person.
	Gate string
}

// Validate checks the request before anything leaves the process.
func (r SoakRequest) Validate() error {
	err := checkNames(r.Env, r.Service)
	if len(r.Version) > 128 || !versionRE.MatchString(r.Version) {
		err = errors.Join(err, fault.Inputf("Version", "version %q: give the image tag that soaked, e.g. 3.3.0", r.Version))
	}
	if r.Digest != "" {
		if derr := imageref.CheckDigest(r.Digest); derr != nil {
			err = errors.Join(err, fault.Inputf("Digest", "digest: %w", derr))
		}
	}
	until := r.Until
	if until.IsZero() {
		until = r.Now
	}
	if !r.Since.IsZero() && !until.After(r.Since) {
		err = errors.Join(err, fault.Inputf("Until", "the soak window ends (%s) before it starts (%s): give --since before --until", until.UTC().Format(time.RFC3339), r.Since.UTC().Format(time.RFC3339)))
	}
	if !r.Until.IsZero() && !r.Now.IsZero() && r.Until.After(r.Now.Add(time.Minute)) {
		err = errors.Join(err, fault.Inputf("Until", "the soak window ends in the future (%s): record a soak once it has happened", r.Until.UTC().Format(time.RFC3339)))
	}
	return fault.Invalid(err)
}

// RecordSoak writes state/soaks/<env>/<svc>/<version>.yaml and commits
// `soak(<env>): <svc> <version> soaked <duration>` with the trailers
// Action: soak, Environment, Service, Image-Digest, Soak-Since, Soak-Until,
// Gate, Deployed-By and Pipeline-Run. The version must be the one Env runs.
//
// It is idempotent: a record of the same digest at least as long is
// AlreadyDone, and so is a re-run with the same ChangeID. A longer window
// (a restarted watch that ran on) replaces a shorter one.
//
// It does not deploy what is queued: call DrainQueue after it (after
// promoting the soaked version, if that is what the caller does next —
// draining replaces it in Env).
func RecordSoak(ctx context.Context, repo *gitops.Repo, req SoakRequest) (Outcome, error) {
	if err := req.Validate(); err != nil {
		return Outcome{}, err
	}
	out := Outcome{Action: "soak", Environment: req.Env, Service: req.Service}
	var have *Soak
	var img imageref.Ref
	res, err := run(ctx, repo, out, "", func(ctx context.Context, t *gitops.Tree) (gitops.Commit, error) {
		cfg, _, _, err := loadKnown(t, req.Env, req.Service)
		if err != nil {
			return gitops.Commit{}, err
		}
		_, cur, err := readEnvFile(t, req.Env, req.Service)
		if err != nil {
			return gitops.Commit{}, err
		}
		if cur.Image.Tag != req.Version || cur.Image.Digest == "" {
			return gitops.Commit{}, fault.Invalidf("%s runs %q in %s (%s), not %s: a soak is recorded for the version the environment runs", req.Service, cur.Image.Tag, req.Env, envPath(req.Env, req.Service), req.Version)
		}
		if req.Digest != "" && req.Digest != cur.Image.Digest {
			return gitops.Commit{}, fault.Invalidf("%s %s in %s is digest %s, not %s: record the soak of the image that ran", req.Service, req.Version, req.Env, cur.Image.Digest, req.Digest)
		}
		img = imageref.Ref{Repository: cur.Image.Repository, Tag: cur.Image.Tag, Digest: cur.Image.Digest}
		deployed, found, err := deployedAt(ctx, t, req.Env, req.Service, cur.Image.Digest)
		if err != nil {
			return gitops.Commit{}, err
		}
		since, until := req.Since, req.Until
		if until.IsZero() {
			until = req.Now
		}
		if since.IsZero() {
			if !found {
				return gitops.Commit{}, fault.Inputf("Since", "no smpctl commit deployed %s %s to %s, so when it started to run is not known: give when the watch started", req.Service, req.Version, req.Env)
			}
			since = deployed
		}
		if found && since.Before(deployed) {
			return gitops.Commit{}, fault.Inputf("Since", "the soak window starts %s, before %s %s was deployed to %s (%s): a gate that passed before the version ran says nothing about it; give a window after the deploy",
				since.UTC().Format(time.RFC3339), req.Service, req.Version, req.Env, deployed.UTC().Format(time.RFC3339))
		}
		if !until.After(since) {
			return gitops.Commit{}, fault.Inputf("Until", "%s %s was deployed to %s at %s, and the soak window ends %s: nothing soaked yet", req.Service, req.Version, req.Env, since.UTC().Format(time.RFC3339), until.UTC().Format(time.RFC3339))
		}
		// Seconds, as commit times: a record reads the same in the file and the trailers.
		rec := Soak{Version: req.Version, Digest: cur.Image.Digest, Since: since.UTC().Truncate(time.Second), Until: until.UTC().Truncate(time.Second), Gate: req.Gate, By: req.By}
		old, err := readSoak(t, req.Env, req.Service, req.Version)
		if err != nil {
			return gitops.Commit{}, err
		}
		if old != nil && old.Digest == rec.Digest && old.Duration() >= rec.Duration() {
			have = old
			return gitops.Commit{}, gitops.ErrNoChange
		}
		b, err := yaml.Marshal(rec)
		if err != nil {
			return gitops.Commit{}, err
		}
		if err := t.WriteFile(soakPath(req.Env, req.Service, req.Version), b); err != nil {
			return gitops.Commit{}, err
		}
		return gitops.Commit{
			ChangeID: req.ChangeID,
			Subject:  fmt.Sprintf("soak(%s): %s %s soaked %s", req.Env, req.Service, req.Version, rec.Duration().Round(time.Second)),
			Trailers: []gitops.Trailer{
				{Key: "Action", Value: "soak"},
				{Key: "Environment", Value: req.Env},
				{Key: "Service", Value: req.Service},
				{Key: "Image", Value: img.String()},
				{Key: "Image-Digest", Value: rec.Digest},
				{Key: "Soak-Since", Value: rec.Since.Format(time.RFC3339)},
				{Key: "Soak-Until", Value: rec.Until.Format(time.RFC3339)},
				{Key: "Gate", Value: req.Gate},
				{Key: "Deployed-By", Value: req.By},
				{Key: "Pipeline-Run", Value: req.Run},
			},
			Identity: req.identity(cfg),
		}, nil
	})
	if img.Digest != "" {
		res.Image = &img
	}
	if have != nil && res.Commit == "" {
		res.Message = fmt.Sprintf("%s %s already soaked %s in %s (%s to %s); nothing to commit", req.Service, req.Version,
			have.Duration().Round(time.Second), req.Env, have.Since.Format(time.RFC3339), have.Until.Format(time.RFC3339))
	}
	return res, err
}

// QueueOrDeploy is how an automated deploy (CD on a trigger) writes an
// image: while the version Env runs soaks (see SoakState), the image is
// queued — state/queue/<env>/<svc>.yaml, commit `queue(<env>): <svc> →
// <tag>`, Outcome.Action "queue" — instead of replacing the candidate and
// restarting its clock; a deploy queued before is superseded (the
// Superseded trailer names it). Otherwise it is Deploy, and a deploy still
// queued is superseded by this one in the same commit.
//
// A queued deploy passes the checks that do not depend on when it lands
// (service, image repository, approval and its signature, a person's
// signature where the environment has signedApprovals, out-of-order
// against the running and the queued build); DrainQueue runs every check
// again when it lands.
// A rollback (req.Rollback) is never queued.
func QueueOrDeploy(ctx context.Context, repo *gitops.Repo, req DeployRequest) (Outcome, error) {
	if req.Rollback {
		return Deploy(ctx, repo, req)
	}
	if err := req.Validate(); err != nil {
		return Outcome{}, err
	}
	img := req.Image
	out := Outcome{Action: "deploy", Environment: req.Env, Service: req.Service, Image: &img}
	var queued, sameQueued bool
	var behind SoakState
	noop := fmt.Sprintf("%s %s is already deployed to %s; nothing to commit", req.Service, img.Tag, req.Env)
	res, err := run(ctx, repo, out, noop, func(ctx context.Context, t *gitops.Tree) (gitops.Commit, error) {
		queued, sameQueued = false, false
		cfg, e, _, err := loadKnown(t, req.Env, req.Service)
		if err != nil {
			return gitops.Commit{}, err
		}
		if err := checkRunProven(cfg, e, req.Service, req.Common, "deploy"); err != nil {
			return gitops.Commit{}, err
		}
		st, err := soakState(ctx, t, cfg, req.Env, req.Service, req.Now)
		if err != nil {
			return gitops.Commit{}, err
		}
		prev, err := readQueued(t, req.Env, req.Service)
		if err != nil {
			return gitops.Commit{}, err
		}
		// repo signs a person's deploy that lands now: writeImage checks
		// its signature as it does a direct deploy's.
		w := imageWrite{action: "deploy", env: req.Env, svc: req.Service, img: img, chart: req.ChartVersion,
			src: req.Source, override: req.OverrideFreeze, common: req.Common, repo: repo}
		if !st.Soaking || st.Digest == img.Digest {
			c, err := writeImage(ctx, t, w)
			if err != nil || prev == nil {
				return c, err
			}
			// This deploy is newer than the one queued: it lands instead.
			if err := t.Remove(queuePath(req.Env, req.Service)); err != nil {
				return gitops.Commit{}, err
			}
			c.Trailers = append(c.Trailers, gitops.Trailer{Key: "Superseded", Value: queuedRef(*prev).String()})
			return c, nil
		}
		behind, queued = st, true
		if prev != nil && prev.Digest == img.Digest {
			sameQueued = true
			return gitops.Commit{}, gitops.ErrNoChange
		}
		_, cur, err := readEnvFile(t, req.Env, req.Service)
		if err != nil {
			return gitops.Commit{}, err
		}
		if err := checkRepository(cfg, req.Env, req.Service, cur, img); err != nil {
			return gitops.Commit{}, err
		}
		if _, err := requireApproval(t, cfg, e, req.Service, img, req.By, ""); err != nil {
			return gitops.Commit{}, err
		}
		if err := checkApprovalAge(ctx, t, e, req.Service, img.Tag, req.Now); err != nil {
			return gitops.Commit{}, err
		}
		if err := checkQueuedDeploy(ctx, t, repo, cfg, e, req, img); err != nil {
			return gitops.Commit{}, err
		}
		if err := checkOrder(ctx, t, "deploy", req.Env, req.Service, req.Source); err != nil {
			return gitops.Commit{}, err
		}
		if prev != nil && !req.Source.Time.IsZero() && !prev.SourceTime.IsZero() && req.Source.Time.Before(prev.SourceTime) {
			return gitops.Commit{}, fault.Refusedf("deploy of %s to %s refused: source %s (%s) is older than the queued %s (%s); deploys only move forward",
				req.Service, req.Env, short(req.Source.Commit), req.Source.Time.UTC().Format(time.RFC3339), prev.Tag, prev.SourceTime.UTC().Format(time.RFC3339))
		}
		q := Queued{Repository: img.Repository, Tag: img.Tag, Digest: img.Digest, ChartVersion: req.ChartVersion,
			SourceCommit: req.Source.Commit, SourceTime: req.Source.Time.UTC(), QueuedAt: req.Now.UTC().Truncate(time.Second),
			By: req.By, Run: req.Run, Behind: st.Tag}
		b, err := yaml.Marshal(q)
		if err != nil {
			return gitops.Commit{}, err
		}
		if err := t.WriteFile(queuePath(req.Env, req.Service), b); err != nil {
			return gitops.Commit{}, err
		}
		tr := imageTrailers("queue", req.Env, req.Service, img, st.Digest)
		tr = append(tr, req.Source.trailers()...)
		if prev != nil {
			tr = append(tr, gitops.Trailer{Key: "Superseded", Value: queuedRef(*prev).String()})
		}
		tr = append(tr,
			gitops.Trailer{Key: "Soaking", Value: st.Tag},
			gitops.Trailer{Key: "Deployed-By", Value: req.By},
			gitops.Trailer{Key: "Pipeline-Run", Value: req.Run})
		return gitops.Commit{
			ChangeID: req.ChangeID,
			Subject:  fmt.Sprintf("queue(%s): %s → %s", req.Env, req.Service, img.Tag),
			Trailers: tr,
			Identity: req.identity(cfg),
		}, nil
	})
	if err != nil || !queued {
		return res, err
	}
	res.Action = "queue"
	wait := fmt.Sprintf("%s %s soaks in %s until %s has soaked %s (deployed %s): %s deploys when it ends (`smpctl soak drain --env %s --service %s`)",
		req.Service, behind.Tag, req.Env, behind.Next, behind.Need, behind.DeployedAt.UTC().Format(time.RFC3339), img.Tag, req.Env, req.Service)
	switch {
	case sameQueued:
		res.Message = fmt.Sprintf("%s %s is already queued for %s; nothing to commit\n%s", req.Service, img.Tag, req.Env, wait)
	case !res.AlreadyDone:
		res.Message += "\n" + wait
	}
	return res, nil
}

// DrainRequest deploys what is queued for a service in an environment.
type DrainRequest struct {
	Common
	Env, Service string
}

// DrainQueue deploys the queued image of Env/Service once the version Env
// runs no longer soaks (its soak is recorded, it was promoted, it is
// held, or its time ran out): the commit is `deploy(<env>): <svc>
// → <tag>` with Dequeued-By and Queued-At trailers, removing the queue file
// in the same commit, so a deploy is never both queued and deployed.
//
// Every check of a deploy runs again (freeze, hold, approval): a refusal
// leaves the entry queued, except a build older than the running one
// (someone deployed a newer one meanwhile), which is dropped in a
// `dequeue(<env>)` commit that names it.
//
// Nothing queued, or a candidate still soaking, is AlreadyDone with a
// message saying which: calling it again after it deployed (a restarted
// watch) writes nothing, because the image it deployed now soaks.
func DrainQueue(ctx context.Context, repo *gitops.Repo, req DrainRequest) (Outcome, error) {
	if err := checkNames(req.Env, req.Service); err != nil {
		return Outcome{}, err
	}
	out := Outcome{Action: "deploy", Environment: req.Env, Service: req.Service}
	var (
		q     *Queued
		st    SoakState
		stale error
	)
	res, err := run(ctx, repo, out, "", func(ctx context.Context, t *gitops.Tree) (gitops.Commit, error) {
		q, stale = nil, nil
		cfg, _, _, err := loadKnown(t, req.Env, req.Service)
		if err != nil {
			return gitops.Commit{}, err
		}
		if q, err = readQueued(t, req.Env, req.Service); err != nil {
			return gitops.Commit{}, err
		}
		if q == nil {
			return gitops.Commit{}, gitops.ErrNoChange
		}
		if st, err = soakState(ctx, t, cfg, req.Env, req.Service, req.Now); err != nil {
			return gitops.Commit{}, err
		}
		if st.Soaking && !st.Done {
			return gitops.Commit{}, gitops.ErrNoChange
		}
		img := queuedRef(*q)
		src := Source{Commit: q.SourceCommit, Time: q.SourceTime}
		if err := t.Remove(queuePath(req.Env, req.Service)); err != nil {
			return gitops.Commit{}, err
		}
		if stale = checkOrder(ctx, t, "deploy", req.Env, req.Service, src); stale != nil {
			return dequeue(t, cfg, req, *q, "older than the running build")
		}
		common := req.Common
		common.By, common.Run = q.By, q.Run
		c, err := writeImage(ctx, t, imageWrite{action: "deploy", env: req.Env, svc: req.Service, img: img,
			chart: q.ChartVersion, src: src, common: common})
		if errors.Is(err, gitops.ErrNoChange) {
			return dequeue(t, cfg, req, *q, "already running")
		}
		if err != nil {
			return gitops.Commit{}, fmt.Errorf("deploy the queued %s %s to %s: %w", req.Service, q.Tag, req.Env, err)
		}
		c.ChangeID = req.ChangeID
		c.Trailers = append(c.Trailers,
			gitops.Trailer{Key: "Queued-At", Value: q.QueuedAt.UTC().Format(time.RFC3339)},
			gitops.Trailer{Key: "Dequeued-By", Value: req.By})
		return c, nil
	})
	if err != nil {
		return res, err
	}
	if q != nil {
		ref := queuedRef(*q)
		res.Image = &ref
	}
	switch {
	case res.Commit != "" && !res.AlreadyDone && stale != nil:
		res.Action = "dequeue"
		res.Message += fmt.Sprintf("\nthe queued %s was not deployed: %v", q.Tag, stale)
	case !res.AlreadyDone || res.Commit != "":
	case q == nil:
		res.Message = fmt.Sprintf("nothing is queued for %s in %s; nothing to commit", req.Service, req.Env)
	case st.Soaking && !st.Done:
		res.Message = fmt.Sprintf("%s %s still soaks in %s (deployed %s; %s needs %s): the queued %s deploys when it ends; nothing to commit",
			req.Service, st.Tag, req.Env, st.DeployedAt.UTC().Format(time.RFC3339), st.Next, st.Need, q.Tag)
	}
	return res, nil
}

// dequeue drops a queued deploy that cannot land, naming it in the commit.
func dequeue(t *gitops.Tree, cfg *delivery.Config, req DrainRequest, q Queued, why string) (gitops.Commit, error) {
	img := queuedRef(q)
	tr := imageTrailers("dequeue", req.Env, req.Service, img, "")
	tr = append(tr,
		gitops.Trailer{Key: "Superseded", Value: img.String()},
		gitops.Trailer{Key: "Reason", Value: why},
		gitops.Trailer{Key: "Dequeued-By", Value: req.By})
	return gitops.Commit{
		ChangeID: req.ChangeID,
		Subject:  fmt.Sprintf("dequeue(%s): %s %s %s", req.Env, req.Service, q.Tag, why),
		Trailers: tr,
		Identity: req.identity(cfg),
	}, nil
}

// SoakState is where a service stands in an environment's soak.
type SoakState struct {
	Environment string `json:"environment"`
	Service     string `json:"service"`
	// Tag and Digest are what the environment runs.
	Tag    string `json:"tag,omitempty"`
	Digest string `json:"digest,omitempty"`
	// DeployedAt is when the commit that wrote it landed (zero when no
	// smpctl commit did).
	DeployedAt time.Time `json:"deployedAt,omitzero"`
	// Next is the environment after this one, and Need its soak (zero:
	// nothing soaks here).
	Next string            `json:"next,omitempty"`
	Need delivery.Duration `json:"need,omitempty"`
	// Soaked is the recorded soak of the running digest, if any; Done
	// says it is at least Need.
	Soaked *Soak `json:"soaked,omitempty"`
	Done   bool  `json:"done"`
	// Promoted: Next runs the same digest.
	Promoted bool `json:"promoted"`
	Held     bool `json:"held"`
	// Soaking: automated deploys are queued rather than landed. A
	// candidate that soaked but is not promoted yet still holds the queue
	// (until soakGrace·Need after its deploy), so that the version that
	// soaked is still there to promote; DrainQueue does not wait for it.
	Soaking bool `json:"soaking"`
	// Queued is the deploy waiting for the soak to end.
	Queued *Queued `json:"queued,omitempty"`
}

// SoakStateOf reads where Service stands in Env's soak at the branch's
// head, for `smpctl soak status` and for a caller deciding whether to drain.
func SoakStateOf(ctx context.Context, repo *gitops.Repo, env, svc string, now time.Time) (SoakState, error) {
	if err := checkNames(env, svc); err != nil {
		return SoakState{}, err
	}
	var st SoakState
	err := repo.Read(ctx, func(ctx context.Context, t *gitops.Tree) error {
		cfg, err := readConfig(t)
		if err != nil {
			return err
		}
		if _, _, err := knownEnv(cfg, env); err != nil {
			return err
		}
		if err := knownService(cfg, svc); err != nil {
			return err
		}
		if st, err = soakState(ctx, t, cfg, env, svc, now); err != nil {
			return err
		}
		st.Queued, err = readQueued(t, env, svc)
		return err
	})
	return st, err
}

// soakState decides whether the version env runs soaks: the environment
// after env has a soak D, the running digest is not in that environment
// yet, the service is not held (a failed gate's rollback or hold ends the
// soak), and it was deployed less than soakGrace·D ago.
func soakState(ctx context.Context, t *gitops.Tree, cfg *delivery.Config, env, svc string, now time.Time) (SoakState, error) {
	st := SoakState{Environment: env, Service: svc}
	_, i, err := knownEnv(cfg, env)
	if err != nil {
		return st, err
	}
	_, cur, err := readEnvFile(t, env, svc)
	if err != nil {
		return st, err
	}
	st.Tag, st.Digest = cur.Image.Tag, cur.Image.Digest
	if i+1 < len(cfg.Environments) {
		n := cfg.Environments[i+1]
		st.Next, st.Need = n.Name, n.Soak
	}
	if st.Need == 0 || st.Digest == "" {
		return st, nil
	}
	h, err := readHold(t, env, svc)
	if err != nil {
		return st, err
	}
	st.Held = h != nil
	if st.Soaked, err = readSoak(t, env, svc, st.Tag); err != nil {
		return st, err
	}
	if st.Soaked != nil && st.Soaked.Digest != st.Digest {
		st.Soaked = nil // a record of another build under the same tag
	}
	deployed, found, err := deployedAt(ctx, t, env, svc, st.Digest)
	if err != nil || !found {
		return st, err
	}
	st.DeployedAt = deployed
	st.Done = st.Soaked != nil && st.Soaked.Duration() >= st.Need.D()
	if st.Done {
		_, next, err := readEnvFile(t, st.Next, svc)
		if err != nil {
			return st, err
		}
		st.Promoted = next.Image.Digest == st.Digest
	}
	st.Soaking = !st.Promoted && !st.Held && now.Before(deployed.Add(soakGrace*st.Need.D()))
	return st, nil
}

// checkSoaked refuses to promote (or deploy) img from env from to an
// environment with a soak it has not done there.
func checkSoaked(ctx context.Context, t *gitops.Tree, action string, to delivery.Environment, from, svc string, img imageref.Ref, now time.Time) error {
	if to.Soak == 0 {
		return nil
	}
	need := to.Soak.D()
	soaked, err := soakedFor(t, from, svc, img)
	if err != nil {
		return err
	}
	if soaked >= need {
		return nil
	}
	ran := "for an unknown time (no smpctl commit deployed it)"
	more := ""
	if since, found, err := deployedAt(ctx, t, from, svc, img.Digest); err != nil {
		return err
	} else if found {
		r := max(now.Sub(since), 0).Round(time.Second)
		ran = fmt.Sprintf("for %s (since %s)", r, since.UTC().Format(time.RFC3339))
		if r < need {
			more = fmt.Sprintf(" (at least %s more there)", need-r)
		}
	}
	return fault.Refusedf("%s of %s %s to %s refused: %s needs soak: %s in %s (%s), and %s has run in %s %s with %s of soak recorded: it still needs %s of soak%s; "+
		"let `smpctl verify --env %s --service %s --for %s` watch it (it records the soak when the gate passes the whole window), or wait; then %s again",
		action, svc, img.Tag, to.Name, to.Name, to.Soak, from, delivery.FileName, img.Tag, from, ran, soaked.Round(time.Second), (need - soaked).Round(time.Second), more,
		from, svc, to.Soak, action)
}

// soakedFor is how long img has soaked in env: its record under its own
// tag, else the longest record of the same digest under another tag (a
// deploy ships the build dev ran as sha-… under its release tag: the same
// image, whose soak counts).
func soakedFor(t *gitops.Tree, env, svc string, img imageref.Ref) (time.Duration, error) {
	rec, err := readSoak(t, env, svc, img.Tag)
	if err != nil {
		return 0, err
	}
	if rec != nil && rec.Digest == img.Digest {
		return rec.Duration(), nil
	}
	names, err := t.List("state/soaks/" + env + "/" + svc)
	if err != nil {
		return 0, nil //nolint:nilerr // no records for the service there
	}
	var best time.Duration
	for _, n := range names {
		version, ok := strings.CutSuffix(n, ".yaml")
		if !ok || version == img.Tag {
			continue
		}
		r, err := readSoak(t, env, svc, version)
		if err != nil {
			return 0, err
		}
		if r != nil && r.Digest == img.Digest {
			best = max(best, r.Duration())
		}
	}
	return best, nil
}

// deployedAt is when digest was last written into env by a deploy,
// promote or rollback commit.
func deployedAt(ctx context.Context, t *gitops.Tree, env, svc, digest string) (time.Time, bool, error) {
	var at time.Time
	found := false
	err := t.Log(ctx, envPath(env, svc), func(rev gitops.Revision) (bool, error) {
		switch rev.Trailers["Action"] {
		case "deploy", "promote", "rollback":
		default:
			return false, nil
		}
		if rev.Trailers["Image-Digest"] != digest {
			return false, nil
		}
		at, found = rev.Time, true
		return true, nil
	})
	if err != nil {
		return at, false, fmt.Errorf("read when %s was deployed to %s: %w", svc, env, err)
	}
	return at, found, nil
}

func readSoak(t *gitops.Tree, env, svc, version string) (*Soak, error) {
	p := soakPath(env, svc, version)
	b, err := t.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	s, err := statefile.DecodeSoak(b)
	if err != nil {
		return nil, fault.Invalidf("%s in the GitOps repository is not a soak record: %w; fix or remove it with a commit", p, err)
	}
	return &s, nil
}

func readQueued(t *gitops.Tree, env, svc string) (*Queued, error) {
	p := queuePath(env, svc)
	b, err := t.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	q, err := statefile.DecodeQueued(b)
	if err != nil || q.Digest == "" || q.Tag == "" || q.Repository == "" {
		return nil, fault.Invalidf("%s in the GitOps repository is not a queued deploy (%v): fix or remove it with a commit", p, err)
	}
	return &q, nil
}

func queuedRef(q Queued) imageref.Ref {
	return imageref.Ref{Repository: q.Repository, Tag: q.Tag, Digest: q.Digest}
}
