// Command gen builds the benchmark's GitOps repository: a bare repository
// with N services × dev/staging/prod and M commits (internal/gitopsgen).
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

	"github.com/smp/delivery/internal/gitopsgen"
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
	flag.Parse()
	if *dir == "" {
		return fmt.Errorf("missing -dir")
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	start := time.Now()
	if err := gitopsgen.Build(ctx, *dir, o); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "gen: %d services, %d commits in %s\n", o.Services, o.Commits, time.Since(start).Round(time.Millisecond))
	return nil
}
