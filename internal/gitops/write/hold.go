package write

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops"
)

// HoldRequest places or releases a hold.
type HoldRequest struct {
	Common
	Env, Service, Reason string
	// ByGate says the gate watch (smpctl verify --for) places the hold,
	// not a person: it need not be signed where signedApprovals is on.
	ByGate bool
	// Trailers are added to the hold's commit (smpctl verify --for records
	// the gate's figures there).
	Trailers []gitops.Trailer
}

// PlaceHold writes state/holds/<env>/<svc>.yaml and commits
// `hold(<env>): <svc>`; an existing hold is AlreadyDone.
func PlaceHold(ctx context.Context, repo *gitops.Repo, req HoldRequest) (Outcome, error) {
	if err := checkNames(req.Env, req.Service); err != nil {
		return Outcome{}, err
	}
	if req.By == "" {
		return Outcome{}, fault.Inputf("By", "no holder: name who places the hold")
	}
	out := Outcome{Action: "hold", Environment: req.Env, Service: req.Service}
	var since string
	res, err := run(ctx, repo, out, "", func(_ context.Context, t *gitops.Tree) (gitops.Commit, error) {
		cfg, e, _, err := loadKnown(t, req.Env, req.Service)
		if err != nil {
			return gitops.Commit{}, err
		}
		if err := checkRunProven(cfg, e, req.Service, req.Common, "hold"); err != nil {
			return gitops.Commit{}, err
		}
		if err := checkPersonSigner(repo, cfg, e, "hold", req.By, req.ByGate); err != nil {
			return gitops.Commit{}, err
		}
		h, err := readHold(t, req.Env, req.Service)
		if err != nil {
			return gitops.Commit{}, err
		}
		if h != nil {
			since = fmt.Sprintf(" since %s by %s", h.Since.Format(time.RFC3339), h.By)
			return gitops.Commit{}, gitops.ErrNoChange
		}
		_, cur, err := readEnvFile(t, req.Env, req.Service)
		if err != nil {
			return gitops.Commit{}, err
		}
		b, err := yaml.Marshal(Hold{Since: req.Now.UTC().Truncate(time.Second), By: req.By, Reason: req.Reason, Digest: cur.Image.Digest})
		if err != nil {
			return gitops.Commit{}, err
		}
		if err := t.WriteFile(holdPath(req.Env, req.Service), b); err != nil {
			return gitops.Commit{}, err
		}
		return gitops.Commit{
			ChangeID: req.ChangeID,
			Subject:  fmt.Sprintf("hold(%s): %s", req.Env, req.Service),
			Trailers: append(holdTrailers("hold", req, cur.Image.Digest), req.Trailers...),
			Identity: req.identity(cfg),
		}, nil
	})
	if res.AlreadyDone {
		res.Message = fmt.Sprintf("%s in %s is already held%s; nothing to commit", req.Service, req.Env, since)
	}
	return res, err
}

// ReleaseHold removes the hold and commits `release-hold(<env>): <svc>`.
func ReleaseHold(ctx context.Context, repo *gitops.Repo, req HoldRequest) (Outcome, error) {
	if err := checkNames(req.Env, req.Service); err != nil {
		return Outcome{}, err
	}
	out := Outcome{Action: "release-hold", Environment: req.Env, Service: req.Service}
	noop := fmt.Sprintf("%s in %s is not held; nothing to commit", req.Service, req.Env)
	return run(ctx, repo, out, noop, func(_ context.Context, t *gitops.Tree) (gitops.Commit, error) {
		cfg, err := loadConfig(t)
		if err != nil {
			return gitops.Commit{}, err
		}
		e, _, err := knownEnv(cfg, req.Env)
		if err != nil {
			return gitops.Commit{}, err
		}
		if err := checkPersonSigner(repo, cfg, e, "hold release", req.By, req.ByGate); err != nil {
			return gitops.Commit{}, err
		}
		h, err := readHold(t, req.Env, req.Service)
		if err != nil {
			return gitops.Commit{}, err
		}
		if h == nil {
			return gitops.Commit{}, gitops.ErrNoChange
		}
		if err := t.Remove(holdPath(req.Env, req.Service)); err != nil {
			return gitops.Commit{}, err
		}
		return gitops.Commit{
			ChangeID: req.ChangeID,
			Subject:  fmt.Sprintf("release-hold(%s): %s", req.Env, req.Service),
			Trailers: holdTrailers("release-hold", req, h.Digest),
			Identity: req.identity(cfg),
		}, nil
	})
}

func holdTrailers(action string, req HoldRequest, digest string) []gitops.Trailer {
	return []gitops.Trailer{
		{Key: "Action", Value: action},
		{Key: "Environment", Value: req.Env},
		{Key: "Service", Value: req.Service},
		{Key: "Image-Digest", Value: digest},
		{Key: "Deployed-By", Value: req.By},
		{Key: "Pipeline-Run", Value: req.Run},
	}
}

// HeldService is one hold, for hold list.
type HeldService struct {
	Environment string `json:"environment"`
	Service     string `json:"service"`
	Hold
}

// ListHolds returns every hold in the repository, sorted.
func ListHolds(ctx context.Context, repo *gitops.Repo) ([]HeldService, error) {
	var holds []HeldService
	err := repo.Read(ctx, func(_ context.Context, t *gitops.Tree) error {
		envs, err := t.List("state/holds")
		if err != nil {
			return err
		}
		for _, env := range envs {
			files, err := t.List("state/holds/" + env)
			if err != nil {
				return err
			}
			for _, f := range files {
				svc, ok := strings.CutSuffix(f, ".yaml")
				if !ok {
					continue
				}
				h, err := readHold(t, env, svc)
				if err != nil || h == nil {
					return err
				}
				holds = append(holds, HeldService{Environment: env, Service: svc, Hold: *h})
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(holds, func(i, j int) bool {
		if holds[i].Environment != holds[j].Environment {
			return holds[i].Environment < holds[j].Environment
		}
		return holds[i].Service < holds[j].Service
	})
	return holds, nil
}
