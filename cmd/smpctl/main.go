// Command smpctl is SMP Delivery's CLI: it plans, builds, deploys, promotes,
// rolls back and releases SMP's Go services through the GitOps repository.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/smp/delivery/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Main(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
