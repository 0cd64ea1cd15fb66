package cluster

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/smp/delivery/internal/testkit/testimage"
)

// The benchmarks below report p50 in milliseconds over the iterations
// (run them with -benchtime 10x, as bench/runtime/run.sh does), side by side
// with the physical reference: starting the binary directly and waiting for
// /health.

func p50(ds []time.Duration) float64 {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[len(s)/2]) / float64(time.Millisecond)
}

// p95 is the nearest-rank 95th percentile in milliseconds.
func p95(ds []time.Duration) float64 {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return float64(s[(len(s)*95+99)/100-1]) / float64(time.Millisecond)
}

// waitVersion polls url/health every 5ms until it reports want.
func waitVersion(b *testing.B, url, want string) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if v, err := version(url); err == nil && v == want {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatalf("%s never served %s", url, want)
}

func benchFixture(b *testing.B) *fixture {
	return newFixture(b, func(c *Config) { c.PollInterval = 250 * time.Millisecond })
}

// BenchmarkCommitToServing: from the deploy commit (pushed to the GitOps
// remote) to the new version answering /health on dev's stable URL, with
// dev following git by polling every 250 ms (the local daemon's setting).
// Each run deploys an image the runtime has not pulled yet.
func BenchmarkCommitToServing(b *testing.B) {
	f := benchFixture(b)
	n := b.N + 1
	digests := make([]string, n)
	for i := range digests {
		digests[i] = f.image(fmt.Sprintf("1.0.%d", i), testimage.ModeOK)
	}
	url := func() string { return f.svc("dev").URL }
	f.deploy("dev", svcFile{tag: "1.0.0", digest: digests[0], replicas: 1})
	f.serving(url, "1.0.0")
	var ds []time.Duration
	b.ResetTimer()
	for i := 1; i < n; i++ {
		v := fmt.Sprintf("1.0.%d", i)
		b.StopTimer()
		f.write("environments/dev/order-svc.yaml", fmt.Sprintf("image:\n  repository: %s/smp/order-svc\n  tag: %s\n  digest: %s\nreplicaCount: 1\n", f.host, v, digests[i]))
		f.git(f.work, "add", "-A")
		f.git(f.work, "commit", "--quiet", "-m", "deploy(dev): order-svc → "+v)
		b.StartTimer()
		start := time.Now()
		f.git(f.work, "push", "--quiet", "origin", "HEAD:main")
		waitVersion(b, url(), v)
		ds = append(ds, time.Since(start))
	}
	b.ReportMetric(p50(ds), "p50-ms")
	b.ReportMetric(p95(ds), "p95-ms")
}

// BenchmarkRollbackToServing: from the sync of a rollback commit after a
// promotion (the previous version still runs) to the previous version
// answering /health on prod's stable URL.
func BenchmarkRollbackToServing(b *testing.B) {
	f := benchFixture(b)
	v1, v2 := f.image("1.0.0", testimage.ModeOK), f.image("2.0.0", testimage.ModeOK)
	ctx := context.Background()
	url := func() string { return f.svc("prod").URL }
	sync := func() {
		if _, err := f.rt.Sync(ctx, "prod"); err != nil {
			b.Fatal(err)
		}
	}
	f.deploy("prod", svcFile{tag: "1.0.0", digest: v1, replicas: 1, blueGreen: true, delay: 300})
	sync()
	waitVersion(b, url(), "1.0.0")
	var ds []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Each round starts where the last ended: 1.0.0 active. The first
		// 2.0.0 waits on the preview for a promote; in later rounds 2.0.0
		// is the previous revision, still running within the scale-down
		// delay, and git asking for it again swaps it back at once.
		b.StopTimer()
		f.deploy("prod", svcFile{tag: "2.0.0", digest: v2, replicas: 1, blueGreen: true, delay: 300})
		sync()
		if f.svc("prod").Preview != nil {
			if err := f.rt.Promote("prod", "order-svc"); err != nil {
				b.Fatal(err)
			}
		}
		waitVersion(b, url(), "2.0.0")
		f.deploy("prod", svcFile{tag: "1.0.0", digest: v1, replicas: 1, blueGreen: true, delay: 300})
		b.StartTimer()
		start := time.Now()
		sync()
		waitVersion(b, url(), "1.0.0")
		ds = append(ds, time.Since(start))
	}
	b.ReportMetric(p50(ds), "p50-ms")
}

// BenchmarkStartBinaryDirectly is the physical reference: exec the same
// service binary and wait for /health to answer.
func BenchmarkStartBinaryDirectly(b *testing.B) {
	bin, err := testimage.Binary(context.Background(), binDir, "1.0.0", testimage.ModeOK)
	if err != nil {
		b.Fatal(err)
	}
	var ds []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		url, stop, err := testimage.Serve(context.Background(), bin)
		if err != nil {
			b.Fatal(err)
		}
		waitVersion(b, url, "1.0.0")
		ds = append(ds, time.Since(start))
		b.StopTimer()
		stop()
		b.StartTimer()
	}
	b.ReportMetric(p50(ds), "p50-ms")
}

// BenchmarkHeadPoll: what one poll of a GitOps remote on this machine
// costs when nothing changed (stats of the ref files) against a poll that
// must ask git (a new GitRepo knows nothing yet: one git process), side by
// side in one run. The runtime polls every PollInterval for as long as it
// runs (the daemon every 500 ms).
func BenchmarkHeadPoll(b *testing.B) {
	f := benchFixture(b)
	old := time.Now().Add(-time.Hour)
	if err := os.Chtimes(filepath.Join(f.remote, "refs", "heads", "main"), old, old); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.Run("unchanged", func(b *testing.B) {
		g := &GitRepo{Remote: f.remote}
		for b.Loop() {
			if _, err := g.Head(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("git", func(b *testing.B) {
		for b.Loop() {
			if _, err := (&GitRepo{Remote: f.remote}).Head(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}
