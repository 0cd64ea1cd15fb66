// Command gen builds the benchmarks' GitOps repository (bench/gitops and
// bench/gitops-read): a bare repository with N services × dev/staging/prod
// and M commits (internal/testkit/gitopsgen).
//
//	go run ./bench/gitops-read/gen -dir /tmp/gitops.git -services 200 -commits 5000
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/smp/delivery/internal/testkit/gitopsgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	var o gitopsgen.Options
	dir := flag.String("dir", "", "bare repository to create (must not exist)")
	flag.IntVar(&o.Services, "services", 200, "services")
	flag.IntVar(&o.Commits, "commits", 5000, "commits of history")
	flag.Uint64Var(&o.Seed, "seed", 1, "random seed")
	start := flag.String("start", "", "the first commit's time, RFC 3339 (default 2026-05-01T00:00:00Z); each commit is an hour later")
	flag.Parse()
	if *start != "" {
		t, err := time.Parse(time.RFC3339, *start)
		if err != nil {
			return fmt.Errorf("-start %q: %w", *start, err)
		}
		o.Start = t
	}
	if *dir == "" {
		return fmt.Errorf("missing -dir")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	began := time.Now()
	if err := gitopsgen.Build(ctx, *dir, o); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gen: %d services, %d commits in %s\n", o.Services, o.Commits, time.Since(began).Round(time.Millisecond))
	return nil
}
