package write

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/envfile"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/semver"
)

// DeployRequest writes an image to an environment.
type DeployRequest struct {
	Common
	Env, Service string
	Image        imageref.Ref
	// ChartVersion, when set, is written to chart.version with the image.
	ChartVersion string
	Source       Source
	// OverrideFreeze is the reason to deploy during a freeze; empty obeys it.
	OverrideFreeze string
	// Rollback marks an explicit rollback to this image: holds, freezes,
	// approvals and the out-of-order guard do not apply, the commit is
	// rollback(...) and a hold is placed, as with Rollback.
	Rollback bool
}

// Validate checks the request's names before anything leaves the process.
func (r DeployRequest) Validate() error {
	err := checkNames(r.Env, r.Service)
	if r.ChartVersion != "" && !strictChartVersion(r.ChartVersion) {
		err = errors.Join(err, fault.Inputf("ChartVersion", "chart version %q is not a version: use MAJOR.MINOR.PATCH[-PRERELEASE] (a range would make Argo CD follow a floating chart)", r.ChartVersion))
	}
	return fault.Invalid(err)
}

// strictChartVersion reports whether v is one version, strict SemVer: a
// range (>=0.1.0) would make Argo CD follow a floating chart.
func strictChartVersion(v string) bool {
	_, err := semver.Parse(v)
	return err == nil && !strings.ContainsAny(v, "<>=~^*| ,")
}

// Deploy writes environments/<env>/<svc>.yaml and commits
// `deploy(<env>): <svc> → <tag>`. It refuses during a freeze, on a hold,
// without the environment's approval, and for a build older than the
// running one; the same image already deployed is AlreadyDone.
func Deploy(ctx context.Context, repo *gitops.Repo, req DeployRequest) (Outcome, error) {
	if err := req.Validate(); err != nil {
		return Outcome{}, err
	}
	img := req.Image
	action := "deploy"
	if req.Rollback {
		action = "rollback"
	}
	out := Outcome{Action: action, Environment: req.Env, Service: req.Service, Image: &img}
	noop := fmt.Sprintf("%s %s is already deployed to %s; nothing to commit", req.Service, img.Tag, req.Env)
	return run(ctx, repo, out, noop, func(ctx context.Context, t *gitops.Tree) (gitops.Commit, error) {
		return writeImage(ctx, t, imageWrite{
			action: action, env: req.Env, svc: req.Service, img: img, chart: req.ChartVersion,
			src: req.Source, override: req.OverrideFreeze, common: req.Common, repo: repo,
		})
	})
}

// PromoteRequest copies the image of one environment to the next.
type PromoteRequest struct {
	Common
	Service  string
	From, To string
	// ApprovedBy, when set, must match the recorded approval.
	ApprovedBy     string
	OverrideFreeze string
}

// Promote copies the exact image (repository, tag, digest) and chart
// version of From to To and commits `promote(<to>): <svc> → <tag>`. To must
// come right after From in delivery.yaml unless To has allowSkip.
func Promote(ctx context.Context, repo *gitops.Repo, req PromoteRequest) (Outcome, error) {
	if err := checkNames(req.From, req.Service); err != nil {
		return Outcome{}, err
	}
	if err := delivery.CheckName("environment", req.To); err != nil {
		return Outcome{}, fault.Inputf("To", "%w", err)
	}
	out := Outcome{Action: "promote", Environment: req.To, Service: req.Service}
	return runPromote(ctx, repo, out, req)
}

func runPromote(ctx context.Context, repo *gitops.Repo, out Outcome, req PromoteRequest) (Outcome, error) {
	var img imageref.Ref
	res, err := run(ctx, repo, out, "", func(ctx context.Context, t *gitops.Tree) (gitops.Commit, error) {
		cfg, err := loadConfig(t)
		if err != nil {
			return gitops.Commit{}, err
		}
		_, fi, err := knownEnv(cfg, req.From)
		if err != nil {
			return gitops.Commit{}, err
		}
		to, ti, err := knownEnv(cfg, req.To)
		if err != nil {
			return gitops.Commit{}, err
		}
		if err := knownService(cfg, req.Service); err != nil {
			return gitops.Commit{}, err
		}
		switch {
		case ti <= fi:
			return gitops.Commit{}, fault.Invalidf("promote goes forward along %v: %s comes before %s", cfg.EnvNames(), req.To, req.From)
		case ti > fi+1 && !to.AllowSkip:
			return gitops.Commit{}, fault.Refusedf("promoting %s from %s to %s skips %s: promote to %s first, or set allowSkip: true on %s in %s",
				req.Service, req.From, req.To, cfg.Environments[fi+1].Name, cfg.Environments[fi+1].Name, req.To, delivery.FileName)
		}
		_, src, err := readEnvFile(t, req.From, req.Service)
		if err != nil {
			return gitops.Commit{}, err
		}
		if src.Image.Digest == "" || src.Image.Tag == "" || src.Image.Repository == "" {
			return gitops.Commit{}, fault.Refusedf("%s has no pinned image in %s (%s): deploy it there first", req.Service, req.From, envPath(req.From, req.Service))
		}
		if src.ChartVersion != "" && !strictChartVersion(src.ChartVersion) {
			// A hand edit of the source environment is not copied on:
			// deploy refuses the same version given on its command line.
			return gitops.Commit{}, fault.Invalidf("%s pins chart version %q, which is not one version (MAJOR.MINOR.PATCH[-PRERELEASE]; a range would make Argo CD follow a floating chart): fix it there with a commit, then promote again; nothing written",
				envPath(req.From, req.Service), src.ChartVersion)
		}
		img = imageref.Ref{Repository: src.Image.Repository, Tag: src.Image.Tag, Digest: src.Image.Digest}
		if _, err := imageref.Parse(img.String()); err != nil {
			return gitops.Commit{}, fault.Invalidf("%s: %w", envPath(req.From, req.Service), err)
		}
		// Soak (delivery.yaml, docs/soak.md): only a version recorded to have soaked in From.
		if err := checkSoaked(ctx, t, "promote", to, req.From, req.Service, img, req.Now); err != nil {
			return gitops.Commit{}, err
		}
		// Carry the build's source over, so lead time counts from the commit.
		source, err := sourceOf(ctx, t, req.From, req.Service, img.Digest)
		if err != nil {
			return gitops.Commit{}, err
		}
		return writeImage(ctx, t, imageWrite{
			action: "promote", env: req.To, svc: req.Service, img: img, chart: src.ChartVersion,
			src: source, override: req.OverrideFreeze, common: req.Common, from: req.From, approvedBy: req.ApprovedBy, repo: repo,
		})
	})
	res.Image = &img
	if res.AlreadyDone {
		res.Message = fmt.Sprintf("%s %s is already in %s; nothing to commit", req.Service, img.Tag, req.To)
	}
	return res, err
}

// sourceOf returns the Source-Commit and Source-Time recorded when digest
// was written to env.
func sourceOf(ctx context.Context, t *gitops.Tree, env, svc, digest string) (Source, error) {
	var s Source
	err := t.Log(ctx, envPath(env, svc), func(rev gitops.Revision) (bool, error) {
		if rev.Trailers["Image-Digest"] != digest {
			return false, nil
		}
		s.Commit = rev.Trailers["Source-Commit"]
		s.Time, _ = parseTime(rev.Trailers["Source-Time"])
		return true, nil
	})
	return s, err
}

type imageWrite struct {
	action, env, svc string
	img              imageref.Ref
	chart            string
	src              Source
	override         string
	common           Common
	from             string
	approvedBy       string
	// repo is the repository written through: its signer is what signs
	// a person's deploy or promote (checkPersonSigner); nil for the
	// soak queue's own deploys, which carry the queued deploy's checks.
	repo *gitops.Repo
}

// writeImage is the checks and the write shared by deploy and promote.
func writeImage(ctx context.Context, t *gitops.Tree, w imageWrite) (gitops.Commit, error) {
	cfg, e, ei, err := loadKnown(t, w.env, w.svc)
	if err != nil {
		return gitops.Commit{}, err
	}
	if err := checkRunProven(cfg, e, w.svc, w.common, w.action); err != nil {
		return gitops.Commit{}, err
	}
	old, cur, err := readEnvFile(t, w.env, w.svc)
	if err != nil {
		return gitops.Commit{}, err
	}
	want := envfile.Values{Image: envfile.Image{Repository: w.img.Repository, Tag: w.img.Tag, Digest: w.img.Digest}, ChartVersion: w.chart}
	if cur.Image == want.Image && (w.chart == "" || cur.ChartVersion == w.chart) {
		return gitops.Commit{}, gitops.ErrNoChange
	}
	if err := checkRepository(cfg, w.env, w.svc, cur, w.img); err != nil {
		return gitops.Commit{}, err
	}
	if w.repo != nil && (w.action == "rollback" || w.common.Run == "") {
		// A deploy or promote with a Pipeline-Run is CI's, which holds no
		// person's key; what it ships still needs an approval signed by a
		// listed key (checkSignedApproval). A rollback is always a person's.
		if err := checkPersonSigner(w.repo, cfg, e, w.action, w.common.By, false); err != nil {
			return gitops.Commit{}, err
		}
	}
	var overridden, approvedBy, fast string
	if w.action == "rollback" {
		rev, err := ranIn(ctx, t, w.env, w.svc, w.img)
		if err != nil {
			return gitops.Commit{}, err
		}
		if _, rejected := rolledBackFrom(ctx, t, w.env, w.svc, w.img.Digest); !rejected {
			fast = fastLane(w.env, rev) // else it did not keep its place there: no evidence
		}
		if err := placeHold(t, w.env, w.svc, cur.Image.Tag, "", w.img.Digest, w.common); err != nil {
			return gitops.Commit{}, err
		}
	} else {
		if overridden, err = checkFreeze(cfg, w.action, w.env, w.override, w.common.Now); err != nil {
			return gitops.Commit{}, err
		}
		if err := checkHold(t, w.env, w.svc); err != nil {
			return gitops.Commit{}, err
		}
		if approvedBy, err = requireApproval(t, cfg, e, w.svc, w.img, w.common.By, w.approvedBy); err != nil {
			return gitops.Commit{}, err
		}
		if err := checkApprovalAge(ctx, t, e, w.svc, w.img.Tag, w.common.Now); err != nil {
			return gitops.Commit{}, err
		}
		approvalKey, err := checkSignedApproval(ctx, t, cfg, e, w.svc, w.img.Tag)
		if err != nil {
			return gitops.Commit{}, err
		}
		if err := checkFourEyesByKey(w.repo, cfg, e, w.svc, w.img.Tag, w.common.By, approvalKey); err != nil {
			return gitops.Commit{}, err
		}
		if err := checkOrder(ctx, t, w.action, w.env, w.svc, w.src); err != nil {
			return gitops.Commit{}, err
		}
		// A deploy into an environment with a soak (the reusable CD ships
		// releases to staging and prod with deploy, under their release
		// tag) needs the same soak in the environment before it as a
		// promote does (Promote checks it with its source environment).
		if w.action == "deploy" && ei > 0 {
			if err := checkSoaked(ctx, t, "deploy", e, cfg.Environments[ei-1].Name, w.svc, w.img, w.common.Now); err != nil {
				return gitops.Commit{}, err
			}
		}
	}
	if err := writeEnvFile(t, w.env, w.svc, old, want); err != nil {
		return gitops.Commit{}, err
	}
	tr := imageTrailers(w.action, w.env, w.svc, w.img, cur.Image.Digest)
	tr = append(tr, w.src.trailers()...)
	tr = append(tr,
		gitops.Trailer{Key: "Promoted-From", Value: w.from},
		gitops.Trailer{Key: "Deployed-By", Value: w.common.By},
		gitops.Trailer{Key: "Approved-By", Value: approvedBy},
		gitops.Trailer{Key: "Pipeline-Run", Value: w.common.Run},
		gitops.Trailer{Key: "Override-Freeze", Value: overridden},
		gitops.Trailer{Key: "Fast-Lane", Value: fast},
	)
	return gitops.Commit{
		ChangeID: w.common.ChangeID,
		Subject:  fmt.Sprintf("%s(%s): %s → %s", w.action, w.env, w.svc, w.img.Tag),
		Trailers: tr,
		Identity: w.common.identity(cfg),
	}, nil
}

// checkRepository refuses an image from another repository than the
// service's: the one delivery.yaml registers for it, or, for a service
// registered without one, the one its environment file already names.
// Otherwise anyone who can run a deploy could ship any image under the
// service's name (ghcr.io/evil/backdoor as order-svc).
func checkRepository(cfg *delivery.Config, env, svc string, cur envfile.Values, img imageref.Ref) error {
	want, where := "", ""
	if s, ok := cfg.Service(svc); ok && s.Image != "" {
		want, where = s.Image, delivery.FileName+" registers"
	} else if cur.Image.Repository != "" {
		want, where = cur.Image.Repository, envPath(env, svc)+" names"
	}
	if want == "" || img.Repository == want {
		return nil
	}
	return fault.Refusedf("%s is not %s's image repository: %s %s; deploy an image of %s, or change the service's image in %s through a reviewed change",
		img.Repository, svc, where, want, want, delivery.FileName)
}
