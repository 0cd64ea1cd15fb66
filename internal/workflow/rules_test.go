package workflow

import (
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// workflowDirs are every directory holding workflows we ship: this
// repository's own and reusable ones, and the service template's callers.
var workflowDirs = []string{".github/workflows", "examples/order-svc/.github/workflows"}

func allWorkflows(t *testing.T) []*File {
	t.Helper()
	var files []*File
	for _, d := range workflowDirs {
		fs, err := LoadDir(filepath.Join(repoRoot(t), d))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, fs...)
	}
	if len(files) < 7 {
		t.Fatalf("found %d workflow files; expected the 5 of .github/workflows and the service's ci and cd", len(files))
	}
	return files
}

func TestEveryWorkflowFollowsTheFiveRules(t *testing.T) {
	t.Parallel()
	for _, f := range allWorkflows(t) {
		for _, v := range Check(f) {
			t.Error(v)
		}
	}
}

func TestTheRulesRejectTheSeedsMistakes(t *testing.T) {
	t.Parallel()
	seed := `
on: push
jobs:
  lint:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: aquasecurity/trivy-action@master
      - uses: stoplightio/spectral-action@latest
      - uses: smp/delivery/.github/workflows/x.yml@main
      - uses: docker://alpine
      - run: echo "${{ github.event.pull_request.title }}"
  test:
    runs-on: ubuntu-latest
    permissions: write-all
    services:
      mysql:
        image: mysql:8.0
      redis:
        image: redis:7
      cache:
        image: memcached:latest
    steps:
      - run: exit 0
  release:
    runs-on: ubuntu-latest
    permissions:
      contents: write
    container:
      image: golang
    steps:
      - run: exit 0
  deploy:
    runs-on: ubuntu-latest
    permissions: {}
    env:
      SMP_GIT_TOKEN: ${{ secrets.GITOPS_TOKEN }}
      GH: ${{ secrets.GITHUB_TOKEN }}
    steps:
      - run: exit 0
`
	f, err := Parse("seed.yml", []byte(seed))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	var all []string
	for _, v := range Check(f) {
		got[v.Rule]++
		all = append(all, v.String())
	}
	want := map[string]int{
		RulePinnedActions:  5, // @v4, @master, @latest, @main, docker://alpine
		RulePinnedImages:   4, // mysql:8.0, redis:7, memcached:latest, golang
		RulePermissions:    3, // lint has none, write-all, contents: write
		RuleRunExpressions: 1,
		RuleSecretScope:    1, // deploy's job-level SMP_GIT_TOKEN (GITHUB_TOKEN is the job's own)
	}
	for rule, n := range want {
		if got[rule] != n {
			t.Errorf("rule %s: %d violations, want %d\n%s", rule, got[rule], n, strings.Join(all, "\n"))
		}
	}
}

func TestTheRulesAcceptPinnedReferences(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{
		"actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683",
		"smp/delivery/.github/workflows/ci.yml@v0.1.0",
		"./.github/workflows/ci.yml",
		"docker://alpine@sha256:" + strings.Repeat("0", 64),
	} {
		if msg := checkUses(ok); msg != "" {
			t.Errorf("checkUses(%q) = %q, want accepted", ok, msg)
		}
	}
	for _, bad := range []string{"other/repo/.github/workflows/ci.yml@v1.2.3", "actions/checkout", "actions/checkout@11bd719"} {
		if checkUses(bad) == "" {
			t.Errorf("checkUses(%q) accepted a movable reference", bad)
		}
	}
	for _, ok := range []string{"mysql:8.0.40", "redis:7.4.1", "mariadb:11.4.4", "redis:7.4.1-alpine", "ghcr.io/x/y:1.2.3"} {
		if msg := checkImage(ok); msg != "" {
			t.Errorf("checkImage(%q) = %q, want accepted", ok, msg)
		}
	}
}

// TestActionlintIsClean runs the real actionlint (scripts/tools.sh installs
// it; shellcheck too, which actionlint then runs on every run: script). A
// missing actionlint fails: the workflows run nowhere else before GitHub.
func TestActionlintIsClean(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("actionlint")
	if err != nil {
		t.Fatal("actionlint is not on PATH: run scripts/tools.sh actionlint (make test does) — the workflows must be linted")
	}
	root := repoRoot(t)
	args := []string{"-no-color"}
	if sc, err := exec.LookPath("shellcheck"); err == nil {
		args = append(args, "-shellcheck", sc)
	} else {
		t.Log("shellcheck is not installed: actionlint runs without it (scripts/tools.sh shellcheck installs it)")
		args = append(args, "-shellcheck=")
	}
	for _, d := range workflowDirs {
		files, err := filepath.Glob(filepath.Join(root, d, "*.yml"))
		if err != nil || len(files) == 0 {
			t.Fatalf("no workflows in %s", d)
		}
		cmd := exec.Command(bin, append(args, files...)...)
		// Run from the directory whose .github holds the files, so
		// actionlint resolves local reusable workflows.
		cmd.Dir = filepath.Dir(filepath.Dir(filepath.Join(root, d)))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("actionlint %s: %v\n%s", d, err, out)
		}
	}
}

// TestActionlintCatchesAShellBug proves the lint step can fail.
func TestActionlintCatchesAShellBug(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("actionlint")
	if err != nil {
		t.Fatal("actionlint is not on PATH: run scripts/tools.sh actionlint")
	}
	bad := "on: push\npermissions: {}\njobs:\n  x:\n    runs-on: ubuntu-24.04\n    permissions: {}\n    steps:\n      - run: echo ${{ github.nope }}\n"
	cmd := exec.Command(bin, "-no-color", "-")
	cmd.Stdin = strings.NewReader(bad)
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "github.nope") {
		t.Fatalf("actionlint accepted an unknown context property: %v\n%s", err, out)
	}
}

// TestToolVersionsMatchScriptsTools keeps CI and `make test` on the same
// tools: a `go install X@V` in a workflow and a go_tool line for X in
// scripts/tools.sh must name the same version, and so must an npm package
// a workflow installs (@scope/name@V) and its npm_tool line, which must
// exist: the CI steps `make test` runs need every tool their job installs.
func TestToolVersionsMatchScriptsTools(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	tools := readFile(t, filepath.Join(root, "scripts/tools.sh"))
	pinned := map[string]string{}
	for _, m := range regexp.MustCompile(`go_tool \S+ (\S+)@(v[0-9][^\s]*)`).FindAllStringSubmatch(tools, -1) {
		pinned[m[1]] = m[2]
	}
	npmPinned := map[string]string{}
	for _, m := range regexp.MustCompile(`npm_tool \S+ (@[^@\s]+)@([0-9]\S*)`).FindAllStringSubmatch(tools, -1) {
		npmPinned[m[1]] = m[2]
	}
	npmCompared := 0
	for _, f := range allWorkflows(t) {
		for _, m := range regexp.MustCompile(`(@[\w.-]+/[\w.-]+)@(\S+)`).FindAllStringSubmatch(readFile(t, f.Path), -1) {
			pkg, ver := m[1], m[2]
			want, ok := npmPinned[pkg]
			switch {
			case !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(ver):
				t.Errorf("%s: npm package %s@%s is not pinned to an exact version", f.Path, pkg, ver)
			case !ok:
				t.Errorf("%s installs %s@%s, which scripts/tools.sh does not install (add an npm_tool line)", f.Path, pkg, ver)
			case want != ver:
				t.Errorf("%s installs %s@%s but scripts/tools.sh pins %s", f.Path, pkg, ver, want)
			default:
				npmCompared++
			}
		}
	}
	if npmCompared < 2 {
		t.Errorf("compared %d npm package versions; expected at least spectral-cli and swagger-cli", npmCompared)
	}
	install := regexp.MustCompile(`go install (?:-tags \S+ )?([^\s"@]+)@(\S+)`)
	compared := 0
	for _, f := range allWorkflows(t) {
		src := readFile(t, f.Path)
		for _, m := range install.FindAllStringSubmatch(src, -1) {
			pkg, ver := m[1], strings.Trim(m[2], `"`)
			if strings.HasPrefix(ver, "$") {
				continue // smpctl's version is an input, validated by the step
			}
			if ver == "latest" || !strings.HasPrefix(ver, "v") {
				t.Errorf("%s: go install %s@%s is not a pinned version", f.Path, pkg, ver)
			}
			if want, ok := pinned[pkg]; ok {
				compared++
				if want != ver {
					t.Errorf("%s installs %s@%s but scripts/tools.sh pins %s", f.Path, pkg, ver, want)
				}
			}
		}
	}
	if compared < 2 {
		t.Fatalf("compared %d tool versions; expected at least golangci-lint and migrate", compared)
	}
}
