package deploy

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/delivery"
	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/freeze"
	"github.com/smp/delivery/internal/gitops"
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
		cfg, err := loadConfig(t)
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
// one is refused.
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
		return editFreezes(t, req, "add", func(cfg *delivery.Config, seq *yaml.Node) error {
			for _, f := range cfg.Freezes {
				if f.Name != name {
					continue
				}
				a, _ := yaml.Marshal(f)
				b, _ := yaml.Marshal(req.Freeze)
				if bytes.Equal(a, b) {
					return gitops.ErrNoChange
				}
				return fault.Invalidf("a different freeze named %q exists: remove it first with `smpctl freeze remove --name %s`", name, name)
			}
			var n yaml.Node
			if err := n.Encode(req.Freeze); err != nil {
				return err
			}
			seq.Content = append(seq.Content, &n)
			return nil
		})
	})
}

// RemoveFreeze drops a freeze from delivery.yaml and commits `freeze:
// remove <name>`.
func RemoveFreeze(ctx context.Context, repo *gitops.Repo, req FreezeRequest) (Outcome, error) {
	name := req.Freeze.Name
	if err := delivery.CheckName("freeze name", name); err != nil {
		return Outcome{}, fault.Inputf("Name", "%w", err)
	}
	out := Outcome{Action: "freeze"}
	return run(ctx, repo, out, "", func(_ context.Context, t *gitops.Tree) (gitops.Commit, error) {
		return editFreezes(t, req, "remove", func(cfg *delivery.Config, seq *yaml.Node) error {
			var names []string
			for i, n := range seq.Content {
				var f delivery.Freeze
				if err := n.Decode(&f); err == nil && f.Name == name {
					seq.Content = append(seq.Content[:i], seq.Content[i+1:]...)
					return nil
				}
				names = append(names, f.Name)
			}
			if len(names) == 0 {
				names = []string{"none"}
			}
			return fault.Invalidf("no freeze named %q in %s (freezes: %s)", name, delivery.FileName, strings.Join(names, ", "))
		})
	})
}

// editFreezes edits the freezes sequence of delivery.yaml through yaml.v3
// nodes (comments survive), validates the result, and writes it.
func editFreezes(t *gitops.Tree, req FreezeRequest, verb string, edit func(*delivery.Config, *yaml.Node) error) (gitops.Commit, error) {
	cfg, err := loadConfig(t)
	if err != nil {
		return gitops.Commit{}, err
	}
	for _, e := range req.Freeze.Environments {
		if _, _, err := knownEnv(cfg, e); err != nil {
			return gitops.Commit{}, err
		}
	}
	b, err := t.ReadFile(delivery.FileName)
	if err != nil {
		return gitops.Commit{}, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil || len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return gitops.Commit{}, fault.Invalidf("%s is not a YAML mapping", delivery.FileName)
	}
	root := doc.Content[0]
	var seq *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "freezes" {
			seq = root.Content[i+1]
		}
	}
	if seq == nil || seq.Kind != yaml.SequenceNode {
		seq = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		root.Content = append(root.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: "freezes"}, seq)
	}
	seq.Style = 0
	if err := edit(cfg, seq); err != nil {
		return gitops.Commit{}, err
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return gitops.Commit{}, err
	}
	if _, err := delivery.Parse(buf.Bytes()); err != nil {
		return gitops.Commit{}, fault.Invalid(fmt.Errorf("the edited %s would not be valid: %w", delivery.FileName, err))
	}
	if err := t.WriteFile(delivery.FileName, buf.Bytes()); err != nil {
		return gitops.Commit{}, err
	}
	return gitops.Commit{
		Subject: fmt.Sprintf("freeze: %s %s", verb, req.Freeze.Name),
		Trailers: []gitops.Trailer{
			{Key: "Action", Value: "freeze"},
			{Key: "Environment", Value: strings.Join(req.Freeze.Environments, ",")},
			{Key: "Deployed-By", Value: req.By},
			{Key: "Pipeline-Run", Value: req.Run},
		},
		Identity: req.identity(cfg),
	}, nil
}
