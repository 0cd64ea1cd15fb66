package workflow

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/rhysd/actionlint"

	"github.com/smp/delivery/internal/plan"
	"github.com/smp/delivery/internal/testkit/testctx"
)

const (
	serviceCD = "examples/order-svc/.github/workflows/cd.yml"
	serviceCI = "examples/order-svc/.github/workflows/ci.yml"
	fakeSHA   = "0123456789abcdef0123456789abcdef01234567"
)

// resolver maps a service repository's `uses: smp/delivery/.github/workflows/X@vN`
// (and this repository's `./.github/workflows/X`) to the file in this tree.
func resolver(root string) Resolver {
	return func(uses string) (*File, error) {
		var rel string
		switch {
		case strings.HasPrefix(uses, "./.github/workflows/"):
			rel = strings.TrimPrefix(uses, "./")
		case strings.HasPrefix(uses, "smp/delivery/.github/workflows/"):
			p, _, ok := strings.Cut(strings.TrimPrefix(uses, "smp/delivery/"), "@")
			if !ok {
				return nil, fmt.Errorf("uses %q: not pinned to a version", uses)
			}
			rel = p
		default:
			return nil, fmt.Errorf("uses %q: not a workflow of smp/delivery", uses)
		}
		return Load(filepath.Join(root, rel))
	}
}

// fullRef is the ref GitHub would put in github.ref for what plan parsed.
func fullRef(p plan.Plan) string {
	switch p.Kind {
	case plan.Tag:
		return "refs/tags/" + p.Name
	case plan.PullRequest:
		return "refs/pull/" + p.Name + "/merge"
	}
	return "refs/heads/" + p.Name
}

// planStepGit makes the git repository the plan step reads HEAD from.
func planStepGit(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, args := range [][]string{
		{"init", "-q"},
		{"-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "--allow-empty", "-m", "x"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	return dir
}

// contractExec runs the CD workflow's plan step for real — the workflow's
// own bash script with the real `smpctl plan` — and lets every other job
// succeed with the outputs its steps would print, so the `if:`s downstream
// see exactly what the plan job publishes.
func contractExec(t *testing.T, root, gitDir, smpctlDir string, log *[]string) Executor {
	return func(path string, job *actionlint.Job, scope Scope) (Result, map[string]map[string]string) {
		id := path[strings.LastIndex(path, "/")+1:]
		*log = append(*log, path)
		switch id {
		case "plan":
			f, err := Load(filepath.Join(root, ".github/workflows/cd.yml"))
			if err != nil {
				t.Fatal(err)
			}
			steps, err := f.Steps("plan", scope)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range steps {
				if s.ID != "plan" {
					continue
				}
				outFile := filepath.Join(t.TempDir(), "output")
				if err := os.WriteFile(outFile, nil, 0o600); err != nil {
					t.Fatal(err)
				}
				s.Dir = "" // the checkout: a git repository with one commit
				env := append(os.Environ(), "PATH="+smpctlDir+string(os.PathListSeparator)+os.Getenv("PATH"),
					"GITHUB_OUTPUT="+outFile, "RUNNER_TEMP="+t.TempDir())
				var stderr bytes.Buffer
				if err := s.Exec(testctx.New(t), gitDir, env, 0, &bytes.Buffer{}, &stderr); err != nil {
					return Failure, nil
				}
				raw, err := os.ReadFile(outFile)
				if err != nil {
					t.Fatal(err)
				}
				outs, err := ParseOutputs(string(raw))
				if err != nil {
					t.Fatal(err)
				}
				return Success, map[string]map[string]string{"plan": outs}
			}
			t.Fatalf("the CD workflow's plan job has no step with id plan")
		case "build":
			return Success, map[string]map[string]string{"build": {"image": "ghcr.io/smp/order-svc:sha-0123456@sha256:" + strings.Repeat("a", 64)}}
		case "promote":
			return Success, map[string]map[string]string{"promote": {"image": "ghcr.io/smp/order-svc:X@sha256:" + strings.Repeat("a", 64)}}
		}
		return Success, nil
	}
}

// wantJobs is the contract, from plan alone: which jobs of the service's CD
// (its `cd` call into the reusable workflow, and its `smoke` call) run.
func wantJobs(p plan.Plan, planErr error, invalidTag bool) []string {
	var want []string
	if p.Build || p.Environment != "" || invalidTag {
		want = append(want, "cd", "cd/plan")
	}
	if planErr == nil && p.Build {
		want = append(want, "cd/build")
	}
	if planErr == nil && p.Environment != "" {
		if !p.Build {
			want = append(want, "cd/promote")
		}
		want = append(want, "cd/deploy-"+p.Environment, "smoke", "smoke/smoke")
	}
	sort.Strings(want)
	return want
}

// TestCDRunsExactlyTheJobsPlanNames is the mapping contract of docs/design.md §4:
// for every ref of plan.Table, the service's CD trigger filters and every
// job's `if:` (evaluated over actionlint's AST, with the plan job's outputs
// produced by its real script and the real `smpctl plan`) run exactly the
// jobs plan names; and the service's CI runs exactly when plan says CI.
func TestCDRunsExactlyTheJobsPlanNames(t *testing.T) {
	t.Parallel() // its own git directory; see TestMain
	root := repoRoot(t)
	cd := mustLoad(t, serviceCD)
	ci := mustLoad(t, serviceCI)
	gitDir := planStepGit(t)
	smpctlDir := realSmpctl(t)
	checked := 0
	for _, tc := range plan.Table {
		if tc.InvalidRef {
			continue // not a ref git or GitHub accepts: no event can carry it
		}
		checked++
		t.Run(tc.Ref, func(t *testing.T) {
			p, perr := plan.For(nil, tc.Ref)
			if perr != nil && !tc.InvalidTag {
				t.Fatalf("plan.For(%q): %v", tc.Ref, perr)
			}
			ref := fullRef(p)

			// CI: a pull request into main, or a push.
			var ciRuns bool
			var err error
			if p.Kind == plan.PullRequest {
				ciRuns, err = ci.TriggeredByPullRequest("main")
			} else {
				ciRuns, err = ci.TriggeredByPush(ref)
			}
			if err != nil {
				t.Fatal(err)
			}
			if ciRuns != p.CI {
				t.Errorf("CI triggered = %v for %s, plan says CI = %v", ciRuns, ref, p.CI)
			}

			var got []string
			if p.Kind != plan.PullRequest {
				triggered, err := cd.TriggeredByPush(ref)
				if err != nil {
					t.Fatal(err)
				}
				if triggered {
					var log []string
					out, err := cd.Simulate(Run{
						Github: map[string]any{
							"ref": ref, "sha": fakeSHA, "event_name": "push",
							"repository": "smp/order-svc", "server_url": "https://github.com", "run_id": float64(1),
						},
						Exec:    contractExec(t, root, gitDir, smpctlDir, &log),
						Resolve: resolver(root),
					})
					if err != nil {
						t.Fatal(err)
					}
					got = out.Ran()
					if tc.InvalidTag && out.Jobs["cd/plan"].Result != Failure {
						t.Errorf("invalid release tag %s: the plan job must fail visibly, got %s", ref, out.Jobs["cd/plan"].Result)
					}
				}
			}
			want := wantJobs(p, perr, tc.InvalidTag)
			if len(got) == 0 {
				got = nil // "no job ran", however the simulation says it
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("ref %s: jobs that run = %v\nplan names             %v (env %q, build %v, err %v)", ref, got, want, p.Environment, p.Build, perr)
			}
		})
	}
	if checked < 40 {
		t.Fatalf("the contract covered %d refs; plan.Table must give at least 40 pushable refs", checked)
	}
}

// TestContractCatchesAReEncodedTable proves the contract test can fail: a
// CD whose deploy-prod also fires on rc tags (the seed's kind of `if:`)
// runs a job plan does not name.
func TestContractCatchesAReEncodedTable(t *testing.T) {
	root := repoRoot(t)
	src, err := os.ReadFile(filepath.Join(root, ".github/workflows/cd.yml"))
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(src), "if: needs.plan.outputs.environment == 'prod'",
		"if: startsWith(github.ref, 'refs/tags/v')", 1)
	if broken == string(src) {
		t.Fatal("the CD workflow no longer has the deploy-prod condition this test edits")
	}
	f, err := Parse("broken-cd.yml", []byte(broken))
	if err != nil {
		t.Fatal(err)
	}
	var log []string
	out, err := f.Simulate(Run{
		Github: map[string]any{"ref": "refs/tags/v3.3.0-rc.1", "sha": fakeSHA, "event_name": "push"},
		Inputs: map[string]any{"service": "order-svc", "image": "ghcr.io/smp/order-svc", "gitops-repository": "x", "cosign-public-key": "PEM"},
		Exec:   contractExec(t, root, planStepGit(t), realSmpctl(t), &log),
	})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := plan.For(nil, "refs/tags/v3.3.0-rc.1")
	var want []string
	for _, j := range wantJobs(p, nil, false) {
		if strings.HasPrefix(j, "cd/") {
			want = append(want, strings.TrimPrefix(j, "cd/"))
		}
	}
	if got := out.Ran(); reflect.DeepEqual(got, want) {
		t.Fatalf("a CD that deploys an rc tag to prod ran %v, which the contract accepts", got)
	}
	if out.Jobs["deploy-prod"].Result == Skipped {
		t.Fatal("the edited deploy-prod did not run on an rc tag; the edit did not take")
	}
}
