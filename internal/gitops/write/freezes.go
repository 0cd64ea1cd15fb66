package write

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/freeze"
)

// FreezeStatus is one freeze of delivery.yaml and whether it is active.
type FreezeStatus struct {
	delivery.Freeze
	Active bool       `json:"active"`
	Ends   *time.Time `json:"ends,omitempty"`
}

// ListFreezes returns delivery.yaml's freezes with their state at now.
func ListFreezes(ctx context.Context, repo *gitops.Repo, now time.Time) ([]FreezeStatus, error) {
	var out []FreezeStatus
	err := repo.Read(ctx, func(_ context.Context, t *gitops.Tree) error {
		cfg, err := readConfig(t)
		if err != nil {
			return err
		}
		for _, f := range cfg.Freezes {
			one := &delivery.Config{Environments: cfg.Environments, Freezes: []delivery.Freeze{f}}
			st := FreezeStatus{Freeze: f}
			for _, env := range cfg.EnvNames() {
				if w, ok, err := freeze.Active(one, env, now); err == nil && ok {
					end := w.End
					st.Active, st.Ends = true, &end
					break
				}
			}
			out = append(out, st)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// FreezeRequest adds or removes a freeze.
type FreezeRequest struct {
	Common
	Freeze delivery.Freeze
}

// AddFreeze appends a freeze to delivery.yaml and commits `freeze: add
// <name>`. An identical freeze of that name is AlreadyDone; a different
// one is refused. delivery.yaml is edited as text: its comments, blank
// lines and layout stay.
func AddFreeze(ctx context.Context, repo *gitops.Repo, req FreezeRequest) (Outcome, error) {
	if err := freeze.Check(req.Freeze); err != nil {
		return Outcome{}, fault.Invalid(err)
	}
	for _, e := range req.Freeze.Environments {
		if err := delivery.CheckName("environment", e); err != nil {
			return Outcome{}, fault.Inputf("Env", "%w", err)
		}
	}
	name := req.Freeze.Name
	out := Outcome{Action: "freeze"}
	noop := fmt.Sprintf("freeze %q already exists as given; nothing to commit", name)
	return run(ctx, repo, out, noop, func(_ context.Context, t *gitops.Tree) (gitops.Commit, error) {
		return editFreezes(t, req, "add", func(cfg *delivery.Config, src []byte) ([]byte, error) {
			for _, f := range cfg.Freezes {
				if f.Name != name {
					continue
				}
				a, _ := yaml.Marshal(f)
				b, _ := yaml.Marshal(req.Freeze)
				if bytes.Equal(a, b) {
					return nil, gitops.ErrNoChange
				}
				return nil, fault.Invalidf("a different freeze named %q exists: remove it first with `smpctl freeze remove --name %s`", name, name)
			}
			return delivery.AddFreeze(src, req.Freeze)
		})
	})
}

// RemoveFreeze drops a freeze from delivery.yaml and commits `freeze:
// remove <name>`, keeping every other byte of the file.
func RemoveFreeze(ctx context.Context, repo *gitops.Repo, req FreezeRequest) (Outcome, error) {
	name := req.Freeze.Name
	if err := delivery.CheckName("freeze name", name); err != nil {
		return Outcome{}, fault.Inputf("Name", "%w", err)
	}
	out := Outcome{Action: "freeze"}
	return run(ctx, repo, out, "", func(_ context.Context, t *gitops.Tree) (gitops.Commit, error) {
		return editFreezes(t, req, "remove", func(_ *delivery.Config, src []byte) ([]byte, error) {
			return delivery.RemoveFreeze(src, name)
		})
	})
}

// editFreezes reads delivery.yaml, lets edit change its text (through
// delivery's text-preserving editor, which checks the result), and writes
// it with the commit of a freeze change.
func editFreezes(t *gitops.Tree, req FreezeRequest, verb string, edit func(*delivery.Config, []byte) ([]byte, error)) (gitops.Commit, error) {
	cfg, err := loadConfig(t)
	if err != nil {
		return gitops.Commit{}, err
	}
	for _, e := range req.Freeze.Environments {
		if _, _, err := knownEnv(cfg, e); err != nil {
			return gitops.Commit{}, err
		}
	}
	src, err := t.ReadFile(delivery.FileName)
	if err != nil {
		return gitops.Commit{}, err
	}
	out, err := edit(cfg, src)
	switch {
	case errors.Is(err, gitops.ErrNoChange):
		return gitops.Commit{}, err
	case fault.Kind(err) != nil:
		return gitops.Commit{}, err
	case err != nil:
		return gitops.Commit{}, fault.Invalidf("%s in the GitOps repository: %w", delivery.FileName, err)
	}
	if err := t.WriteFile(delivery.FileName, out); err != nil {
		return gitops.Commit{}, err
	}
	return gitops.Commit{
		ChangeID: req.ChangeID,
		Subject:  fmt.Sprintf("freeze: %s %s", verb, req.Freeze.Name),
		Trailers: []gitops.Trailer{
			{Key: "Action", Value: "freeze"},
			{Key: "Environment", Value: strings.Join(req.Freeze.Environments, ",")},
			{Key: "Deployed-By", Value: req.By},
			{Key: "Pipeline-Run", Value: req.Run},
		},
		Identity: req.identity(cfg),
	}, nil
}
