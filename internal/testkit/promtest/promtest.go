// Package promtest starts a real Prometheus for tests (the local runtime's
// promserver, scraping every 500 ms) and labels test servers as the
// runtime and the chart's ServiceMonitor label a service's replicas: the
// gate, the gate watch and the dashboard's figures read them through the
// queries they use in production.
package promtest

import (
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/local/promserver"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// Start starts Prometheus until the test ends.
func Start(t testing.TB) *promserver.Server {
	t.Helper()
	prom, err := promserver.Start(testctx.New(t), promserver.Options{Dir: t.TempDir(), ScrapeInterval: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prom.Stop() })
	return prom
}

// Group is a file_sd target group.
type Group struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// Target is the test server at url as one replica of service's version in
// env.
func Target(url, env, service, version string) Group {
	return Group{Targets: []string{strings.TrimPrefix(url, "http://")}, Labels: map[string]string{"env": env, "service": service, "version": version}}
}
