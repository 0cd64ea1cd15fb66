package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// shutdownGrace bounds how long Serve waits for requests in flight once ctx
// is done.
const shutdownGrace = 5 * time.Second

// Serve serves d on ln and polls the repository (d.Run) until ctx is done,
// then shuts the server down gracefully. It returns nil after a shutdown
// asked for by ctx, else why serving stopped.
func Serve(ctx context.Context, ln net.Listener, d *Dashboard) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	srv := &http.Server{
		Handler:           d,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// No WriteTimeout: /events streams for as long as a page is open.
		// Pages are rendered in memory before they are written, so a slow
		// reader holds a connection, not a repository read.
		IdleTimeout: 2 * time.Minute,
		// Requests end with ctx, so the open /events streams do not hold
		// up the shutdown.
		BaseContext: func(net.Listener) context.Context { return ctx },
	}
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		_ = d.Run(ctx) // returns ctx's error
	}()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	var err error
	select {
	case <-ctx.Done():
	case err = <-served:
		err = fmt.Errorf("serve the dashboard on %s: %w", ln.Addr(), err)
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer scancel()
	if serr := srv.Shutdown(sctx); serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("shut the dashboard down: %w", serr)
	}
	<-polled
	return err
}
