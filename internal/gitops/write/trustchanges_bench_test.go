package write

import (
	"bufio"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/signing/signingtest"
)

// trustHistory sizes the history BenchmarkTrustChangesWalk reads: 5,000
// commits, one in a hundred a change to delivery.yaml (a freeze added,
// as teams do before holidays), none of them to the trust lists. That is
// the walk's worst case: it reads and parses every version of
// delivery.yaml down to the first, since none changed who may approve.
const (
	trustHistoryCommits  = 5000
	trustHistoryEvery    = 100 // one delivery.yaml change per this many commits
	trustHistoryServices = 50
)

// trustHistoryYAML is delivery.yaml with signing on from the first commit;
// freezes grows by one entry per change.
const trustHistoryYAML = `version: 3
environments:
  - {name: dev, sync: automated, trigger: main, approval: none}
  - {name: staging, sync: manual, trigger: rc, approval: approval, signedApprovals: true}
  - {name: prod, sync: manual, trigger: release, approval: release-manager, signedApprovals: true}
approvers: [alice]
releaseManagers: [rita]
signers:
  - login: alice
    keys: [%q]
  - login: rita
    keys: [%q]
services:
%sfreezes:
%s`

// trustHistoryRemote writes the history with one git fast-import into a
// bare repository and opens it through a mirror in a cache of the
// benchmark's own, as the CLI does (the mirror's commit-graph is what the
// walk's git log uses).
func trustHistoryRemote(b *testing.B) *gitops.Repo {
	b.Helper()
	alice, rita := signingtest.NewKey(b, "alice"), signingtest.NewKey(b, "rita")
	dir := filepath.Join(b.TempDir(), "trust.git")
	if out, err := exec.CommandContext(b.Context(), "git", "init", "-q", "--bare", "-b", "main", dir).CombinedOutput(); err != nil {
		b.Fatalf("git init: %v\n%s", err, out)
	}
	var svcs, freezes strings.Builder
	for i := range trustHistoryServices {
		fmt.Fprintf(&svcs, "  - name: svc-%02d\n", i)
	}
	cmd := exec.CommandContext(b.Context(), "git", "-C", dir, "fast-import", "--quiet")
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(in)
	at := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for n := 1; n <= trustHistoryCommits; n++ {
		files := map[string]string{}
		msg := ""
		switch {
		case n == 1:
			files["delivery.yaml"] = fmt.Sprintf(trustHistoryYAML, alice.Public, rita.Public, svcs.String(), "  []\n")
			msg = "gitops: init"
		case n%trustHistoryEvery == 0:
			fmt.Fprintf(&freezes, "  - {name: freeze-%d, environments: [prod], from: %s, until: %s}\n", n,
				at.Format(time.RFC3339), at.Add(24*time.Hour).Format(time.RFC3339))
			files["delivery.yaml"] = fmt.Sprintf(trustHistoryYAML, alice.Public, rita.Public, svcs.String(), freezes.String())
			msg = fmt.Sprintf("freeze: add freeze-%d\n\nAction: freeze", n)
		default:
			svc := fmt.Sprintf("svc-%02d", n%trustHistoryServices)
			files["environments/dev/"+svc+".yaml"] = fmt.Sprintf("image:\n  repository: ghcr.io/smp/%s\n  tag: 1.0.%d\n  digest: sha256:%064x\n", svc, n, n)
			msg = fmt.Sprintf("deploy(dev): %s → 1.0.%d\n\nAction: deploy\nEnvironment: dev\nService: %s", svc, n, svc)
		}
		fmt.Fprintf(w, "commit refs/heads/main\nmark :%d\n", n)
		fmt.Fprintf(w, "author smpctl-bot <bot@example.com> %d +0000\ncommitter smpctl-bot <bot@example.com> %d +0000\n", at.Unix(), at.Unix())
		fmt.Fprintf(w, "data %d\n%s\n", len(msg), msg)
		if n > 1 {
			fmt.Fprintf(w, "from :%d\n", n-1)
		}
		for p, c := range files {
			fmt.Fprintf(w, "M 100644 inline %s\ndata %d\n%s\n", p, len(c), c)
		}
		at = at.Add(time.Hour)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := in.Close(); err != nil {
		b.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		b.Fatalf("git fast-import: %v\n%s", err, stderr.String())
	}
	r, err := Open(gitops.Remote{URL: dir}, gitops.Identity{Name: "smpctl-bot", Email: "smpctl-bot@users.noreply.smp.vn"},
		gitops.Options{Budget: 10 * time.Minute, CacheDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkTrustChangesWalk measures checkTrustChanges, the walk over
// delivery.yaml's history that every gate of a signedApprovals
// environment and `approve` there run, side by side with the least any
// check of delivery.yaml's history costs: `git log -1 -- delivery.yaml`
// (the newest change, through the same Tree.Log). Each iteration runs
// both, alternating which goes first, so the machine's load weighs on
// both alike; walk-ms, log1-ms and walk/log1 are wall time per
// iteration, walk-cpu-ms and log1-cpu-ms CPU time (what a loaded machine
// disturbs least).
//
//	go test ./internal/gitops/write -run '^$' -bench BenchmarkTrustChangesWalk -count 5
func BenchmarkTrustChangesWalk(b *testing.B) {
	r := trustHistoryRemote(b)
	ctx := context.Background()
	err := r.Read(ctx, func(ctx context.Context, t *gitops.Tree) error {
		// The history is what it claims to be: the walk reads every
		// version of delivery.yaml, and they are all trusted.
		versions := 0
		if err := t.Log(ctx, delivery.FileName, func(gitops.Revision) (bool, error) { versions++; return false, nil }); err != nil {
			return err
		}
		if want := 1 + trustHistoryCommits/trustHistoryEvery; versions != want {
			b.Fatalf("%d commits changed %s, want %d", versions, delivery.FileName, want)
		}
		// Each returns its wall and CPU time (this process's and its git
		// log's; the long-lived cat-file --batch's is not counted).
		timed := func(f func() error) (time.Duration, time.Duration, error) {
			t0, c0 := time.Now(), ProcCPU()
			err := f()
			return time.Since(t0), ProcCPU() - c0, err
		}
		walk := func() error { return checkTrustChanges(ctx, t) }
		log1 := func() error {
			return t.Log(ctx, delivery.FileName, func(gitops.Revision) (bool, error) { return true, nil })
		}
		var walkD, logD, walkCPU, logCPU time.Duration
		n := 0
		for b.Loop() {
			first, second := walk, log1
			if n%2 == 1 {
				first, second = log1, walk
			}
			d1, c1, err := timed(first)
			if err != nil {
				return err
			}
			d2, c2, err := timed(second)
			if err != nil {
				return err
			}
			if n%2 == 1 {
				d1, d2, c1, c2 = d2, d1, c2, c1
			}
			walkD, logD, walkCPU, logCPU = walkD+d1, logD+d2, walkCPU+c1, logCPU+c2
			n++
		}
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(n) }
		b.ReportMetric(ms(walkD), "walk-ms")
		b.ReportMetric(ms(logD), "log1-ms")
		b.ReportMetric(float64(walkD)/float64(logD), "walk/log1")
		b.ReportMetric(ms(walkCPU), "walk-cpu-ms")
		b.ReportMetric(ms(logCPU), "log1-cpu-ms")
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
}
