package history

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/smp/delivery/internal/testkit/gitopsgen"
)

// The benchmark repository of issue 3: 200 services × 3 environments and
// 5,000 commits, built once per process with git fast-import.
var (
	benchOnce sync.Once
	benchDir  string
	benchErr  error
)

func benchRepo(b *testing.B) *Repo {
	b.Helper()
	benchOnce.Do(func() {
		dir, err := osMkdirTemp()
		if err != nil {
			benchErr = err
			return
		}
		benchDir = filepath.Join(dir, "gitops.git")
		benchErr = gitopsgen.Build(context.Background(), benchDir, gitopsgen.Options{Services: 200, Commits: 5000, Seed: 1})
	})
	if benchErr != nil {
		b.Fatal(benchErr)
	}
	r, err := Open(context.Background(), benchDir, OpenOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

func BenchmarkSnapshot(b *testing.B) {
	r := benchRepo(b)
	for b.Loop() {
		if _, err := r.Snapshot(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWalkAll(b *testing.B) {
	r := benchRepo(b)
	for b.Loop() {
		n := 0
		if err := r.Walk(context.Background(), WalkOptions{}, func(*WalkEvent) bool { n++; return true }); err != nil {
			b.Fatal(err)
		}
		if n < 5000 {
			b.Fatalf("walked %d commits", n)
		}
	}
}

func BenchmarkWalkAllWithFiles(b *testing.B) {
	r := benchRepo(b)
	for b.Loop() {
		if err := r.Walk(context.Background(), WalkOptions{Files: true}, func(*WalkEvent) bool { return true }); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStatus(b *testing.B) {
	r := benchRepo(b)
	for b.Loop() {
		st, err := r.Status(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if len(st.Services) != 200 {
			b.Fatalf("%d services", len(st.Services))
		}
	}
}

func BenchmarkMetrics(b *testing.B) {
	r := benchRepo(b)
	for b.Loop() {
		if _, err := r.Metrics(context.Background(), MetricsOptions{Window: DefaultWindow, Until: time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHistory(b *testing.B) {
	r := benchRepo(b)
	for b.Loop() {
		if _, err := r.History(context.Background(), "prod", "svc-007", 0); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMain removes the shared benchmark repository after the run.
func TestMain(m *testing.M) {
	code := m.Run()
	if benchDir != "" {
		_ = os.RemoveAll(filepath.Dir(benchDir))
	}
	os.Exit(code)
}

// BenchmarkHistoryPathLimited is the straightforward alternative History
// does not use: `git log -- paths`. Compare with BenchmarkHistory in the
// same run.
func BenchmarkHistoryPathLimited(b *testing.B) {
	r := benchRepo(b)
	paths := []string{"environments/prod/svc-007.yaml", "state/holds/prod/svc-007.yaml", "state/approvals/prod/svc-007"}
	for b.Loop() {
		n := 0
		if err := r.Walk(context.Background(), WalkOptions{Paths: paths}, func(*WalkEvent) bool { n++; return true }); err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			b.Fatal("no commits")
		}
	}
}
