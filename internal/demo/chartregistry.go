package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// chartRegistry is the chart repository of the story on the real engines:
// an in-memory OCI registry (go-containerregistry's) on a free 127.0.0.1
// port, where smpctl chart push publishes and Argo CD's repository server
// pulls with helm. Plain HTTP: helm and Argo CD speak it to loopback
// registries, as to kind's or a developer's local one.
type chartRegistry struct {
	// Host is 127.0.0.1:PORT, the registry part of a reference.
	Host string
	srv  *http.Server
}

func startChartRegistry() (*chartRegistry, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start the chart registry: %w", err)
	}
	r := &chartRegistry{
		Host: ln.Addr().String(),
		srv: &http.Server{
			Handler:           registry.New(registry.Logger(log.New(io.Discard, "", 0))),
			ReadHeaderTimeout: 10 * time.Second,
		},
	}
	go func() { _ = r.srv.Serve(ln) }()
	return r, nil
}

// Close stops the registry; what it held is gone.
func (r *chartRegistry) Close() error {
	if err := r.srv.Close(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("stop the chart registry: %w", err)
	}
	return nil
}
