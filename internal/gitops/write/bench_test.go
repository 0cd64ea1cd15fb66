package write_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/write"
	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/testkit/gitopsgen"
)

// largeRemote is a bare repository with 200 services × 3 environments and
// 5,000 commits of history (the benchmark repository), written with
// deploys through a mirror in a cache directory of the benchmark's own, as
// the CLI does. The history ends before the deploys' Source-Time.
func largeRemote(b *testing.B) *gitops.Repo {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "large.git")
	o := gitopsgen.Options{Services: 200, Commits: 5000, Seed: 1, Start: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	if err := gitopsgen.Build(context.Background(), dir, o); err != nil {
		b.Fatal(err)
	}
	r, err := write.Open(gitops.Remote{URL: dir}, gitops.Identity{Name: "smpctl-bot", Email: "smpctl-bot@users.noreply.smp.vn"},
		gitops.Options{Budget: 10 * time.Minute, CacheDir: b.TempDir()}) // production back-off
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func benchImage(b *testing.B, svc string, n int) imageref.Ref {
	r, err := imageref.Parse(fmt.Sprintf("ghcr.io/smp/%s:2.%d.0@sha256:%064x", svc, n, 1_000_000+n))
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkDeploy deploys one service at a time to dev, with the
// out-of-order guard on (--source-time), and reports p50 and p95.
func BenchmarkDeploy(b *testing.B) {
	r := largeRemote(b)
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	// The first write clones into the empty cache: not what is measured.
	if _, err := write.ListHolds(context.Background(), r); err != nil {
		b.Fatal(err)
	}
	var d []time.Duration
	cpu0 := write.ProcCPU()
	for i := 0; b.Loop(); i++ {
		svc := gitopsgen.ServiceName(i * 7 % 200)
		t0 := time.Now()
		_, err := write.Deploy(context.Background(), r, write.DeployRequest{
			Common: write.Common{By: "bench", Now: wednesday}, Env: "dev", Service: svc,
			Image: benchImage(b, svc, i), Source: write.Source{Commit: fmt.Sprintf("%040x", i), Time: start.Add(time.Duration(i) * time.Minute)},
		})
		if err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	cpu := write.ProcCPU() - cpu0
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(d[(len(d)*95)/100].Microseconds())/1000, "p95-ms")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(len(d)), "cpu-ms/op")
}

// BenchmarkDeploy20Concurrent deploys 20 different services at once and
// reports the wall time of the batch; every deploy must succeed.
func BenchmarkDeploy20Concurrent(b *testing.B) {
	r := largeRemote(b)
	start := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
	// A warm cache, as on a runner that keeps it between jobs.
	if _, err := write.ListHolds(context.Background(), r); err != nil {
		b.Fatal(err)
	}
	round := 0
	cpu0 := write.ProcCPU()
	for b.Loop() {
		round++
		var wg sync.WaitGroup
		errs := make(chan error, 20)
		for i := range 20 {
			wg.Go(func() {
				svc := gitopsgen.ServiceName(i)
				_, err := write.Deploy(context.Background(), r, write.DeployRequest{
					Common: write.Common{By: "bench", Now: wednesday}, Env: "dev", Service: svc,
					Image: benchImage(b, svc, round*100+i), Source: write.Source{Time: start.Add(time.Duration(round) * time.Minute)},
				})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		b.ReportMetric(float64((write.ProcCPU()-cpu0).Microseconds())/1000/float64(round), "cpu-ms/batch")
		for err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
