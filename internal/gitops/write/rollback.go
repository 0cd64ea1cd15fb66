package write

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/envfile"
	"github.com/smp/delivery/internal/image/imageref"
)

// RollbackRequest writes an earlier image back to an environment.
type RollbackRequest struct {
	Common
	Env, Service string
	// To is a tag, a sha256 digest or a revision of the GitOps repository;
	// empty means the image before the current one.
	To     string
	Reason string
	// Check, when set, is asked once, when the target is resolved, whether
	// the environment may go from the running image to the target (the
	// schema check of package migration); an error stops the rollback
	// before anything is written.
	Check func(ctx context.Context, running, target imageref.Ref) error
	// Trailers are added to the commit's (smpctl verify --for records the
	// gate's figures there).
	Trailers []gitops.Trailer
	// ByGate says the gate watch (smpctl verify --for) rolls back, not a
	// person: it need not be signed where signedApprovals is on.
	ByGate bool
}

var revisionRE = regexp.MustCompile(`^[0-9a-f]+$`) // 7 to 64 of them, checked apart (see isRevision)

// isRevision reports whether s can name a commit: an abbreviated or full object name of a
// SHA-1 (40 hex digits) or SHA-256 (64) repository.
func isRevision(s string) bool { return len(s) >= 7 && len(s) <= 64 && revisionRE.MatchString(s) }

// Rollback writes the previous (or the given) image of env/svc back from
// the environment file's git history, commits `rollback(<env>): <svc> →
// <tag>`, and places a hold in the same commit so automated deploys do not
// overwrite it. Freezes do not block a rollback: it restores a known state.
func Rollback(ctx context.Context, repo *gitops.Repo, req RollbackRequest) (Outcome, error) {
	if err := checkNames(req.Env, req.Service); err != nil {
		return Outcome{}, err
	}
	if req.To != "" && strings.ContainsAny(req.To, " /\\:") && !strings.HasPrefix(req.To, "sha256:") {
		return Outcome{}, fault.Inputf("To", "rollback target %q: give a tag (3.2.0), a digest (sha256:...) or a GitOps revision", req.To)
	}
	if strings.HasPrefix(req.To, "sha256:") {
		if err := imageref.CheckDigest(req.To); err != nil {
			return Outcome{}, fault.Inputf("To", "rollback target: %w", err)
		}
	}
	var img imageref.Ref
	out := Outcome{Action: "rollback", Environment: req.Env, Service: req.Service}
	// The target is resolved once, on the first attempt, against the image
	// that was running then (replaced). A later attempt — after a rejected
	// push, on a head someone else moved — re-applies only while the
	// environment still runs replaced (compare-and-swap): re-computing "the
	// image before the current one" on the new head would roll a deploy
	// that landed meanwhile back to the bad image.
	var resolved *envfile.Values
	var resolvedRev gitops.Revision
	var replaced envfile.Image
	var rejected gitops.Revision // the rollback that once took the target out of env
	res, err := run(ctx, repo, out, "", func(ctx context.Context, t *gitops.Tree) (gitops.Commit, error) {
		cfg, e, _, err := loadKnown(t, req.Env, req.Service)
		if err != nil {
			return gitops.Commit{}, err
		}
		if err := checkRunProven(cfg, e, req.Service, req.Common, "rollback"); err != nil {
			return gitops.Commit{}, err
		}
		if err := checkPersonSigner(repo, cfg, e, "rollback", req.By, req.ByGate); err != nil {
			return gitops.Commit{}, err
		}
		old, cur, err := readEnvFile(t, req.Env, req.Service)
		if err != nil {
			return gitops.Commit{}, err
		}
		if resolved == nil {
			target, rev, err := findTarget(ctx, t, req, cur)
			if err != nil {
				return gitops.Commit{}, err
			}
			to := imageref.Ref{Repository: target.Image.Repository, Tag: target.Image.Tag, Digest: target.Image.Digest}
			if err := checkRepository(cfg, req.Env, req.Service, cur, to); err != nil {
				return gitops.Commit{}, err
			}
			if from, ok := rolledBackFrom(ctx, t, req.Env, req.Service, to.Digest); ok {
				// A person may choose it (--to), but it did not keep
				// its place: the fast lane's evidence does not hold.
				rev, rejected = gitops.Revision{}, from
			}
			if req.Check != nil {
				running := imageref.Ref{Repository: cur.Image.Repository, Tag: cur.Image.Tag, Digest: cur.Image.Digest}
				if err := req.Check(ctx, running, to); err != nil {
					return gitops.Commit{}, err
				}
			}
			resolved, resolvedRev, replaced = &target, rev, cur.Image
		} else if cur.Image != replaced {
			if cur.Image == resolved.Image {
				return gitops.Commit{}, gitops.ErrNoChange // someone else rolled back to the same image
			}
			return gitops.Commit{}, changedMeanwhile(ctx, t, req.Env, req.Service, replaced, cur.Image)
		}
		target, rev := *resolved, resolvedRev
		img = imageref.Ref{Repository: target.Image.Repository, Tag: target.Image.Tag, Digest: target.Image.Digest}
		if target.Image == cur.Image && (target.ChartVersion == "" || target.ChartVersion == cur.ChartVersion) {
			return gitops.Commit{}, gitops.ErrNoChange
		}
		if err := writeEnvFile(t, req.Env, req.Service, old, target); err != nil {
			return gitops.Commit{}, err
		}
		if err := placeHold(t, req.Env, req.Service, cur.Image.Tag, req.Reason, img.Digest, req.Common); err != nil {
			return gitops.Commit{}, err
		}
		tr := imageTrailers("rollback", req.Env, req.Service, img, cur.Image.Digest)
		tr = append(tr, gitops.Trailer{Key: "Source-Commit", Value: rev.Trailers["Source-Commit"]},
			gitops.Trailer{Key: "Source-Time", Value: rev.Trailers["Source-Time"]},
			gitops.Trailer{Key: "Deployed-By", Value: req.By},
			gitops.Trailer{Key: "Pipeline-Run", Value: req.Run})
		if rev.Hash != "" {
			tr = append(tr, gitops.Trailer{Key: "Fast-Lane", Value: fastLane(req.Env, rev)})
		}
		tr = append(tr, req.Trailers...)
		return gitops.Commit{
			ChangeID: req.ChangeID,
			Subject:  fmt.Sprintf("rollback(%s): %s → %s", req.Env, req.Service, img.Tag),
			Trailers: tr,
			Identity: req.identity(cfg),
		}, nil
	})
	res.Image = &img
	res.Previous, res.PreviousTag = replaced.Digest, replaced.Tag
	if res.AlreadyDone {
		res.Message = fmt.Sprintf("%s in %s already runs %s; nothing to commit", req.Service, req.Env, img.Tag)
	} else if err == nil && resolvedRev.Hash != "" {
		res.Message += "\nfast lane: " + fastLane(req.Env, resolvedRev) + " (Fast-Lane trailer)"
	} else if err == nil && rejected.Hash != "" {
		res.Message += fmt.Sprintf("\nno fast lane: %s was rolled back from in %s by %.12s (%s); it returns as you asked, but nothing shows it passed %s's gates since",
			img.Tag, req.Env, rejected.Hash, rejected.Subject, req.Env)
	}
	return res, err
}

// fastLane is the Fast-Lane trailer of a rollback: the last commit that
// put the target in env is the evidence that it passed env's gates then
// (approval, freeze, soak, the order of environments). A rollback does not
// pass them again: it restores a known state. The blue/green pause is the
// engine's: none while the previous ReplicaSet still runs, else a promote
// (docs/kubernetes.md).
func fastLane(env string, rev gitops.Revision) string {
	return fmt.Sprintf("ran in %s from %.12s (%s); approval and soak are skipped",
		env, rev.Hash, rev.Time.UTC().Format(time.RFC3339))
}

// changedMeanwhile is the refusal of a rollback whose environment moved on
// while it was being written: it names what runs now and who put it there.
func changedMeanwhile(ctx context.Context, t *gitops.Tree, env, svc string, meant, now envfile.Image) error {
	who := ""
	_ = t.Log(ctx, envPath(env, svc), func(rev gitops.Revision) (bool, error) {
		who = fmt.Sprintf(" by commit %.12s (%s", rev.Hash, rev.Subject)
		if by := rev.Trailers["Deployed-By"]; by != "" {
			who += ", by " + by
		}
		who += ")"
		return true, nil
	})
	return fault.Refusedf("%s in %s changed while the rollback was being written: it now runs %s (%s)%s, not %s (%s), the image the rollback was to replace; nothing written: check `smpctl status --env %s` and run the rollback again if it is still needed",
		svc, env, now.Tag, shortDigest(now.Digest), who, meant.Tag, shortDigest(meant.Digest), env)
}

// shortDigest abbreviates a digest for messages.
func shortDigest(digest string) string {
	if len(digest) > len("sha256:")+12 {
		return digest[:len("sha256:")+12]
	}
	return digest
}

// ranIn refuses a rollback to an image that never ran in env: a rollback
// restores a known state, and skips the gates (approval, freeze, order)
// that a forward deploy of a new image must pass. It returns the newest
// commit that put the image in env (the fast lane's evidence); the refusal
// lists what the environment did run, newest first.
func ranIn(ctx context.Context, t *gitops.Tree, env, svc string, img imageref.Ref) (gitops.Revision, error) {
	path := envPath(env, svc)
	var seen []string
	var found gitops.Revision
	err := t.Log(ctx, path, func(rev gitops.Revision) (bool, error) {
		v, ok := imageAt(ctx, t, rev.Hash, path)
		if !ok {
			return false, nil
		}
		if v.Image.Digest == img.Digest && v.Image.Repository == img.Repository {
			found = rev
			return true, nil
		}
		d := fmt.Sprintf("%s (%s)", v.Image.Tag, v.Image.Digest)
		if !slices.Contains(seen, d) && len(seen) < 10 {
			seen = append(seen, d)
		}
		return false, nil
	})
	if err != nil || found.Hash != "" {
		return found, err
	}
	could := "none: nothing ran there yet"
	if len(seen) > 0 {
		could = strings.Join(seen, ", ")
	}
	return gitops.Revision{}, fault.Refusedf("rollback of %s in %s to %s@%s refused: that image never ran in %s, and a rollback may only restore one that did; it could go to: %s. Ship a new image forward with deploy or promote instead",
		svc, env, img.Repository, img.Digest, env, could)
}

// rolledBackFrom reports the rollback that took digest out of env, when
// none put it back since: the newest commit of the environment file that
// either replaced digest by a rollback, or pinned it.
func rolledBackFrom(ctx context.Context, t *gitops.Tree, env, svc, digest string) (gitops.Revision, bool) {
	path := envPath(env, svc)
	var from gitops.Revision
	_ = t.Log(ctx, path, func(rev gitops.Revision) (bool, error) {
		if rev.Trailers["Action"] == "rollback" && rev.Trailers["Previous-Digest"] == digest && rev.Trailers["Image-Digest"] != digest {
			from = rev
			return true, nil
		}
		v, ok := imageAt(ctx, t, rev.Hash, path)
		return ok && v.Image.Digest == digest, nil
	})
	return from, from.Hash != ""
}

// placeHold writes the hold a rollback leaves behind.
func placeHold(t *gitops.Tree, env, svc, fromTag, why, digest string, c Common) error {
	reason := fmt.Sprintf("rolled back from %s", fromTag)
	if why != "" {
		reason += ": " + why
	}
	hb, err := yaml.Marshal(Hold{Since: c.Now.UTC().Truncate(time.Second), By: c.By, Reason: reason, Digest: digest})
	if err != nil {
		return err
	}
	return t.WriteFile(holdPath(env, svc), hb)
}

// findTarget walks the environment file's history, newest first, for the
// image to restore, and returns it with the revision that wrote it.
func findTarget(ctx context.Context, t *gitops.Tree, req RollbackRequest, cur envfile.Values) (envfile.Values, gitops.Revision, error) {
	path := envPath(req.Env, req.Service)
	if isRevision(req.To) {
		if hash, err := t.Resolve(ctx, req.To); err == nil && hash != "" {
			b, err := t.Show(ctx, hash, path)
			if err != nil {
				return envfile.Values{}, gitops.Revision{}, fault.Inputf("To", "rollback target %s: %s did not exist at that revision", req.To, path)
			}
			v, err := envfile.Read(b)
			if err != nil || v.Image.Digest == "" {
				return envfile.Values{}, gitops.Revision{}, fault.Inputf("To", "rollback target %s: %s had no pinned image at that revision", req.To, path)
			}
			// The revision may be on any branch the mirror fetched, or
			// name another file's change: what it pinned counts only if
			// it ran in this environment on the branch being written.
			found, err := ranIn(ctx, t, req.Env, req.Service, imageref.Ref{Repository: v.Image.Repository, Digest: v.Image.Digest})
			if err != nil {
				return envfile.Values{}, gitops.Revision{}, err
			}
			return v, found, nil
		}
	}
	var target envfile.Values
	var found gitops.Revision
	// skipped are the digests a newer rollback took out of env (a failed
	// gate's, or a person's): "the image before" never goes back to one,
	// or a second rollback, or a failed watch of the restored version,
	// would restore the release the first one removed.
	skipped := map[string]gitops.Revision{}
	err := t.Log(ctx, path, func(rev gitops.Revision) (bool, error) {
		v, ok := imageAt(ctx, t, rev.Hash, path)
		if !ok {
			return false, nil // deleted, broken or unpinned at this revision
		}
		var match bool
		switch {
		case req.To == "":
			_, bad := skipped[v.Image.Digest]
			match = v.Image.Digest != cur.Image.Digest && !bad
		case strings.HasPrefix(req.To, "sha256:"):
			match = v.Image.Digest == req.To
		default:
			match = v.Image.Tag == req.To
		}
		if match {
			target, found = v, rev
		}
		if prev := rev.Trailers["Previous-Digest"]; rev.Trailers["Action"] == "rollback" && prev != "" && prev != v.Image.Digest {
			if _, seen := skipped[prev]; !seen {
				skipped[prev] = rev
			}
		}
		return match, nil
	})
	if err != nil {
		return envfile.Values{}, gitops.Revision{}, err
	}
	if target.Image.Digest == "" {
		if req.To == "" && len(skipped) > 0 {
			return envfile.Values{}, gitops.Revision{}, fault.Refusedf("nothing to roll back to: the history of %s has no image other than %s that a rollback did not take out of %s; name one with --to (a tag, a digest or a GitOps revision) if you mean it", path, cur.Image.Tag, req.Env)
		}
		if req.To == "" {
			return envfile.Values{}, gitops.Revision{}, fault.Refusedf("nothing to roll back to: the history of %s has no image other than %s", path, cur.Image.Tag)
		}
		return envfile.Values{}, gitops.Revision{}, fault.Inputf("To", "rollback target %s: no image with that tag, digest or revision in the history of %s", req.To, path)
	}
	return target, found, nil
}

// imageAt reads the owned values of path at rev; ok is false when the file
// did not exist, did not parse or pinned no image there.
func imageAt(ctx context.Context, t *gitops.Tree, rev, path string) (envfile.Values, bool) {
	b, showErr := t.Show(ctx, rev, path)
	if showErr != nil {
		return envfile.Values{}, false
	}
	v, readErr := envfile.Read(b)
	return v, readErr == nil && v.Image.Digest != ""
}
