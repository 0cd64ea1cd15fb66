//go:build integration

package kube_test

import (
	"fmt"
	"sort"
	"testing"
	"time"
)

// BenchmarkSyncCommitToHealthy: from a deploy commit to dev (a new digest, the same chart)
// to `smpctl sync dev` returning with the Application Synced and Healthy on it, on the real
// Argo CD (KWOK pods). It reports p50 and p95 in milliseconds; bench/kube/run.sh runs it in
// one run with the local runtime's BenchmarkCommitToServing (internal/local/cluster).
func BenchmarkSyncCommitToHealthy(b *testing.B) {
	s, e := startWithReleaseA(b)
	var ds []time.Duration
	b.ResetTimer()
	for i := 1; i <= b.N; i++ {
		bl := build{tag: fmt.Sprintf("sha-%07x", i), digest: fmt.Sprintf("sha256:%064x", i), chart: e.a.chart}
		start := time.Now()
		s.write("deploy", "--env", "dev", "--service", service, "--image", bl.ref(), "--chart-version", bl.chart, "--by", "ci")
		s.smpctl("sync", "dev", "--kubeconfig", s.c.Kubeconfig())
		ds = append(ds, time.Since(start))
		b.StopTimer()
		s.checkDeployment("dev", bl)
		b.StartTimer()
	}
	b.StopTimer()
	b.ReportMetric(percentile(ds, 50), "p50-ms")
	b.ReportMetric(percentile(ds, 95), "p95-ms")
}

// percentile returns the p-th percentile of ds in milliseconds (nearest rank).
func percentile(ds []time.Duration, p int) float64 {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := (len(s)*p + 99) / 100
	if i < 1 {
		i = 1
	}
	return float64(s[i-1]) / float64(time.Millisecond)
}
