// Package gitopsgen writes synthetic smp-gitops histories as a
// `git fast-import` stream: N services in dev, staging and prod, and M
// commits of deploys, promotions, rollbacks and holds with the subjects and
// trailers of docs/gitops-format.md. It is the one synthetic-history generator:
// the readers' and writers' benchmarks (go test -bench in internal/gitops/history
// and internal/gitops/write, bench/gitops and bench/gitops-read through
// bench/gitops-read/gen) and tests use it to build a repository of
// production size in seconds instead of running git commit thousands of
// times.
package gitopsgen

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"strings"
	"time"
)

// Options size the history. The zero value is replaced by the issue's
// figures: 200 services, 5,000 commits.
type Options struct {
	Services int
	Commits  int
	// Start is the first commit's time; each commit is one hour later.
	Start time.Time
	// Seed makes the history reproducible.
	Seed uint64
}

// Envs are the environments of generated repositories, in promotion order.
var Envs = []string{"dev", "staging", "prod"}

var envs = Envs

// ServiceName is the name of generated service i (svc-000, svc-001, …).
func ServiceName(i int) string { return fmt.Sprintf("svc-%03d", i) }

func (o *Options) defaults() {
	if o.Services <= 0 {
		o.Services = 200
	}
	if o.Commits <= 0 {
		o.Commits = 5000
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	}
}

// Write writes the fast-import stream for branch main to w.
func Write(w io.Writer, o Options) error {
	o.defaults()
	bw := bufio.NewWriterSize(w, 1<<20)
	// Reproducible, not secret: a seeded PCG on purpose.
	rng := rand.New(rand.NewPCG(o.Seed, 42)) //nolint:gosec // benchmark data, not security
	svc := ServiceName
	t := o.Start
	mark := 0
	commit := func(msg string, files map[string]string, deletes ...string) {
		mark++
		fmt.Fprintf(bw, "commit refs/heads/main\nmark :%d\n", mark)
		fmt.Fprintf(bw, "author smpctl-bot <smpctl-bot@users.noreply.smp.vn> %d +0000\n", t.Unix())
		fmt.Fprintf(bw, "committer smpctl-bot <smpctl-bot@users.noreply.smp.vn> %d +0000\n", t.Unix())
		fmt.Fprintf(bw, "data %d\n%s\n", len(msg), msg)
		if mark > 1 {
			fmt.Fprintf(bw, "from :%d\n", mark-1)
		}
		for _, p := range deletes {
			fmt.Fprintf(bw, "D %s\n", p)
		}
		for p, c := range files {
			fmt.Fprintf(bw, "M 100644 inline %s\ndata %d\n%s\n", p, len(c), c)
		}
		t = t.Add(time.Hour)
	}

	// The initial commit: delivery.yaml and every environment file.
	var cfg strings.Builder
	cfg.WriteString("apiVersion: delivery.smp.vn/v1\nkind: Delivery\nservices:\n")
	files := map[string]string{}
	type state struct{ tag, digest, source string }
	cur := map[string]state{}
	build := 0
	newBuild := func() state {
		build++
		return state{tag: fmt.Sprintf("sha-%07x", build), digest: fmt.Sprintf("sha256:%064x", build), source: fmt.Sprintf("%040x", build)}
	}
	for i := range o.Services {
		fmt.Fprintf(&cfg, "  - name: %s\n", svc(i))
		for _, e := range envs {
			s := newBuild()
			cur[e+"/"+svc(i)] = s
			files["environments/"+e+"/"+svc(i)+".yaml"] = envFile(svc(i), e, s.tag, s.digest)
		}
	}
	files["delivery.yaml"] = cfg.String()
	commit("gitops: init\n\nAction: init\n", files)

	held := map[string]bool{}
	// mark counts commits; a released hold adds one, so the total is
	// Commits or Commits+1.
	for n := 1; mark < o.Commits; n++ {
		i := rng.IntN(o.Services)
		name := svc(i)
		roll := rng.IntN(100)
		var action, env, from string
		var s state
		switch {
		case roll < 55:
			action, env, s = "deploy", "dev", newBuild()
		case roll < 80:
			action, env, from = "promote", "staging", "dev"
			s = cur["dev/"+name]
		case roll < 95:
			action, env, from = "promote", "prod", "staging"
			s = cur["staging/"+name]
		default:
			action, env = "rollback", "prod"
		}
		key := env + "/" + name
		prev := cur[key]
		if s == prev && action != "rollback" {
			// smpctl never commits a change that changes nothing.
			continue
		}
		if action == "rollback" {
			// Back to what staging had before: a different, older build.
			s = state{tag: prev.tag + "-prev", digest: fmt.Sprintf("sha256:%064x", build+1_000_000+n), source: prev.source}
		}
		if held[key] && action != "rollback" {
			// Automated changes respect the hold: release it first.
			delete(held, key)
			commit(fmt.Sprintf("release-hold(%s): %s\n\nAction: release-hold\nEnvironment: %s\nService: %s\n", env, name, env, name),
				nil, "state/holds/"+key+".yaml")
		}
		cur[key] = s
		srcTime := t.Add(-time.Duration(1+rng.IntN(48)) * time.Hour)
		tr := []string{
			"Action: " + action, "Environment: " + env, "Service: " + name,
			fmt.Sprintf("Image: ghcr.io/smp/%s:%s@%s", name, s.tag, s.digest),
			"Image-Digest: " + s.digest, "Previous-Digest: " + prev.digest,
			"Source-Commit: " + s.source, "Source-Time: " + srcTime.Format(time.RFC3339),
			"Deployed-By: ci-bot",
		}
		if from != "" {
			tr = append(tr, "Promoted-From: "+from)
		}
		fs := map[string]string{"environments/" + key + ".yaml": envFile(name, env, s.tag, s.digest)}
		if action == "rollback" {
			held[key] = true
			fs["state/holds/"+key+".yaml"] = fmt.Sprintf("since: %s\nby: oncall\nreason: rollback\ndigest: %s\n", t.Format(time.RFC3339), s.digest)
		}
		commit(fmt.Sprintf("%s(%s): %s → %s\n\n%s\n", action, env, name, s.tag, strings.Join(tr, "\n")), fs)
	}
	fmt.Fprintf(bw, "done\n")
	return bw.Flush()
}

func envFile(svc, env, tag, digest string) string {
	return fmt.Sprintf("# %s in %s\nimage:\n  repository: ghcr.io/smp/%s\n  tag: %s\n  digest: %s\nchart:\n  version: 0.1.0\nreplicaCount: 2\nresources:\n  requests: {cpu: 100m, memory: 128Mi}\n", svc, env, svc, tag, digest)
}

// Build creates a bare repository at dir holding the history.
func Build(ctx context.Context, dir string, o Options) error {
	if out, err := exec.CommandContext(ctx, "git", "init", "--quiet", "--bare", "--initial-branch=main", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("git init %s: %w: %s", dir, err, out)
	}
	cmd := exec.CommandContext(ctx, "git", "fast-import", "--quiet")
	cmd.Dir = dir
	in, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("git fast-import: %w", err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("git fast-import: %w", err)
	}
	werr := Write(in, o)
	cerr := in.Close()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git fast-import: %w: %s", err, stderr.String())
	}
	if werr != nil {
		return fmt.Errorf("write fast-import stream: %w", werr)
	}
	return cerr
}
