package gitopstest

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Large describes a generated GitOps repository for benchmarks.
type Large struct {
	Services int // services, each with a file per environment
	Commits  int // commits of deploy history after the initial one
}

// Envs are the environments of generated repositories.
var Envs = []string{"dev", "staging", "prod"}

// ServiceName is the name of generated service i.
func ServiceName(i int) string { return fmt.Sprintf("svc-%03d", i) }

// WriteLarge creates a bare repository at dir holding a delivery.yaml, an
// environment file per service and environment, and Commits deploy commits
// (one file each, with the docs/gitops-format.md trailers), through git
// fast-import: seconds, not the minutes 5,000 `git commit` calls take.
func WriteLarge(dir string, l Large) error {
	if out, err := exec.CommandContext(context.Background(), "git", "init", "--quiet", "--bare", "--initial-branch=main", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("git init: %w: %s", err, out)
	}
	cmd := exec.CommandContext(context.Background(), "git", "fast-import", "--quiet")
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return err
	}
	w := bufio.NewWriterSize(stdin, 1<<20)
	data := func(s string) { fmt.Fprintf(w, "data %d\n%s\n", len(s), s) }
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var svcs strings.Builder
	for i := range l.Services {
		fmt.Fprintf(&svcs, "  - name: %s\n", ServiceName(i))
	}
	cfg := "apiVersion: delivery.smp.vn/v1\nkind: Delivery\nenvironments:\n" +
		"  - {name: dev, sync: automated, trigger: main, approval: none}\n" +
		"  - {name: staging, sync: manual, trigger: rc, approval: approval}\n" +
		"  - {name: prod, sync: manual, trigger: release, approval: release-manager}\n" +
		"approvers: [lan]\nreleaseManagers: [minh, thu]\nservices:\n" + svcs.String()
	envFile := func(svc, env, tag string, d int) string {
		return fmt.Sprintf("# %s in %s\nimage:\n  repository: ghcr.io/smp/%s\n  tag: %s\n  digest: sha256:%064x\nchart:\n  version: 0.1.0\nreplicaCount: 2\nresources:\n  limits: {cpu: 500m, memory: 256Mi}\n", svc, env, svc, tag, d)
	}
	fmt.Fprintf(w, "commit refs/heads/main\ncommitter smpctl-bot <smpctl-bot@users.noreply.smp.vn> %d +0000\n", t0.Unix())
	data("gitops: init\n\nAction: init\n")
	fmt.Fprintf(w, "M 100644 inline delivery.yaml\n")
	data(cfg)
	for i := range l.Services {
		for _, env := range Envs {
			fmt.Fprintf(w, "M 100644 inline environments/%s/%s.yaml\n", env, ServiceName(i))
			data(envFile(ServiceName(i), env, "1.0.0", i))
		}
	}
	for c := 1; c <= l.Commits; c++ {
		svc := ServiceName(c % l.Services)
		env := Envs[c%len(Envs)]
		tag := fmt.Sprintf("1.%d.0", c)
		at := t0.Add(time.Duration(c) * time.Minute)
		fmt.Fprintf(w, "commit refs/heads/main\ncommitter smpctl-bot <smpctl-bot@users.noreply.smp.vn> %d +0000\n", at.Unix())
		data(fmt.Sprintf("deploy(%s): %s → %s\n\nAction: deploy\nEnvironment: %s\nService: %s\nImage-Digest: sha256:%064x\nSource-Commit: %040x\nSource-Time: %s\n",
			env, svc, tag, env, svc, c, c, at.Add(-10*time.Minute).Format(time.RFC3339)))
		fmt.Fprintf(w, "M 100644 inline environments/%s/%s.yaml\n", env, svc)
		data(envFile(svc, env, tag, c))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := stdin.Close(); err != nil {
		return err
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("git fast-import: %w: %s", err, stderr.String())
	}
	// Pack it like a long-lived server repository.
	if out, err := exec.CommandContext(context.Background(), "git", "-C", dir, "repack", "-adq").CombinedOutput(); err != nil {
		return fmt.Errorf("git repack: %w: %s", err, out)
	}
	return os.WriteFile(filepath.Join(dir, "description"), []byte(fmt.Sprintf("%d services, %d commits\n", l.Services, l.Commits)), 0o644)
}
