package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// pool is the set of replicas behind one URL (a Kubernetes Service's
// endpoints). Membership changes only by rollouts; a member receives
// traffic only while it is ready and not draining.
type pool struct {
	members atomic.Pointer[[]*replica]
	next    atomic.Uint64
}

func (p *pool) set(rs []*replica) {
	cp := append([]*replica(nil), rs...)
	p.members.Store(&cp)
}

func (p *pool) list() []*replica {
	if m := p.members.Load(); m != nil {
		return *m
	}
	return nil
}

// pick returns a ready member with its in-flight count already raised, or
// nil. The count is raised before the draining flag is read again, and the
// drainer sets the flag before it reads the count, so a request is either
// refused by a draining replica or waited for by its drainer.
func (p *pool) pick(skip *replica) *replica {
	rs := p.list()
	n := len(rs)
	if n == 0 {
		return nil
	}
	start := int(p.next.Add(1) % uint64(n)) //nolint:gosec // n > 0, so the remainder fits an int
	for i := 0; i < n; i++ {
		r := rs[(start+i)%n]
		if r == skip || !r.serving() {
			continue
		}
		r.inflight.Add(1)
		if !r.serving() {
			r.inflight.Add(-1)
			continue
		}
		return r
	}
	return nil
}

// proxy serves one stable URL and forwards each request to a replica of
// its pool, as kube-proxy does for a Service.
type proxy struct {
	pool pool
	ln   net.Listener
	srv  *http.Server
	url  string
	wg   sync.WaitGroup
}

func newProxy() (*proxy, error) {
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln, url: "http://" + ln.Addr().String()}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetXForwarded()
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "replica"
		},
		Transport:     &pickTransport{pool: &p.pool, next: tr},
		FlushInterval: -1,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			code := http.StatusBadGateway
			if errors.Is(err, errNoReplica) {
				code = http.StatusServiceUnavailable
			}
			http.Error(w, err.Error(), code)
		},
	}
	p.srv = &http.Server{Handler: rp, ReadHeaderTimeout: 10 * time.Second}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		_ = p.srv.Serve(ln)
	}()
	return p, nil
}

func (p *proxy) close(ctx context.Context) {
	_ = p.srv.Shutdown(ctx)
	p.wg.Wait()
}

var errNoReplica = errors.New("no ready replica")

// pickTransport chooses the replica per request and, when a connection to
// it cannot even be made (it just died), tries another one: nothing was
// sent, so a retry is safe for any method.
type pickTransport struct {
	pool *pool
	next http.RoundTripper
}

func (t *pickTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var tried *replica
	var dials []string
	for attempt := 0; attempt < 3; attempt++ {
		r := t.pool.pick(tried)
		if r == nil {
			return nil, t.noReplica(dials)
		}
		out := req.Clone(req.Context())
		out.URL = &url.URL{Scheme: "http", Host: r.addr, Path: req.URL.Path, RawPath: req.URL.RawPath, RawQuery: req.URL.RawQuery}
		out.Host = req.Host
		resp, err := t.next.RoundTrip(out)
		if err != nil {
			r.inflight.Add(-1)
			var op *net.OpError
			if errors.As(err, &op) && op.Op == "dial" {
				tried = r
				dials = append(dials, r.addr+": "+op.Err.Error())
				continue
			}
			return nil, err
		}
		resp.Body = &doneBody{ReadCloser: resp.Body, done: func() { r.inflight.Add(-1) }}
		return resp, nil
	}
	return nil, t.noReplica(dials)
}

// noReplica is the 503's reason: the dials that failed and the state of
// every member, so a client that got one (or the runtime's log) says which
// replica was refused and why none was left.
func (t *pickTransport) noReplica(dials []string) error {
	members := t.pool.list()
	states := make([]string, len(members))
	for i, r := range members {
		st := "ready"
		switch {
		case r.draining.Load():
			st = "draining"
		case !r.ready.Load():
			st = "not ready"
		}
		states[i] = r.addr + " " + st
	}
	if len(dials) == 0 {
		dials = []string{"none"}
	}
	return fmt.Errorf("%w: failed dials: %s; replicas: [%s]", errNoReplica, strings.Join(dials, "; "), strings.Join(states, ", "))
}

type doneBody struct {
	io.ReadCloser
	once sync.Once
	done func()
}

func (b *doneBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(b.done)
	return err
}
