package localenv

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/delivery"
)

// Scaffold creates the bare repository at bare with a minimal smp-gitops
// layout — delivery.yaml (the seed's table), apps/<env>-apps.yaml (dev
// automated, staging and prod manual) and empty environments — in one
// `gitops: init` commit.
func Scaffold(ctx context.Context, bare string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	work, err := os.MkdirTemp("", "smp-gitops-init-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	cfg := delivery.Default()
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return err
	}
	files := map[string]string{delivery.FileName: string(b)}
	for _, e := range cfg.Environments {
		files["environments/"+e.Name+"/.gitkeep"] = ""
		files["apps/"+e.Name+"-apps.yaml"] = appsFile(e)
	}
	for p, c := range files {
		full := filepath.Join(work, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			return err
		}
	}
	id := cfg.Identity
	env := append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME="+id.Name, "GIT_AUTHOR_EMAIL="+id.Email, "GIT_COMMITTER_NAME="+id.Name, "GIT_COMMITTER_EMAIL="+id.Email)
	run := func(dir string, args ...string) error {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir, cmd.Env = dir, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("git %s: %w: %s", args[0], err, strings.TrimSpace(out.String()))
		}
		return nil
	}
	for _, step := range [][]string{
		{"", "init", "--quiet", "--bare", "--initial-branch=main", bare},
		{work, "init", "--quiet", "--initial-branch=main"},
		{work, "add", "-A"},
		{work, "commit", "--quiet", "-m", "gitops: init\n\nAction: init"},
		{work, "push", "--quiet", bare, "HEAD:refs/heads/main"},
	} {
		if err := run(step[0], step[1:]...); err != nil {
			return err
		}
	}
	return nil
}

func appsFile(e delivery.Environment) string {
	sync := ""
	if e.Sync == delivery.SyncAutomated {
		sync = "  syncPolicy:\n    automated:\n      prune: true\n      selfHeal: true\n"
	}
	return fmt.Sprintf(`# Argo CD Applications of %[1]s: every service file under environments/%[1]s.
apiVersion: argoproj.io/v1alpha1
kind: ApplicationSet
metadata:
  name: %[1]s-apps
  namespace: argocd
spec:
  generators:
    - git:
        repoURL: smp-gitops
        revision: main
        files:
          - path: environments/%[1]s/*.yaml
  template:
    metadata:
      name: '{{path.filename}}-%[1]s'
    spec:
      project: default
      destination:
        server: https://kubernetes.default.svc
        namespace: smp-%[1]s
%[2]s`, e.Name, indent(sync, "    "))
}

func indent(s, pre string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i := range lines {
		lines[i] = pre + lines[i]
	}
	return strings.Join(lines, "\n") + "\n"
}
