// Command loadgen is the load generator of bench/order-svc/run.sh. It has
// two modes:
//
//	loadgen bare -addr 127.0.0.1:9001 -get body.json -post order.json
//	    serves fixed bytes from a bare net/http handler: the baseline the
//	    real service is compared with in the same run;
//	loadgen run -url URL [-baseline URL] [-method POST -body JSON -idempotent] -duration 20s -c 32
//	    drives a closed loop of c workers against url (and the baseline,
//	    alternating in rounds) and prints requests/s, p50, p90, p99 and
//	    errors as one JSON line per target.
//
// Traffic goes only to the loopback address it is given; the loop is
// bounded by -duration and -max.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: loadgen bare|run|token|report [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "bare":
		err = bare(ctx, os.Args[2:], os.Stderr)
	case "run":
		err = run(ctx, os.Args[2:], os.Stdout)
	case "token":
		err = token(os.Args[2:], os.Stdout)
	case "report":
		err = report(os.Args[2:], os.Stdout)
	default:
		err = fmt.Errorf("unknown mode %q: use bare, run, token or report", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

// bare serves the same bytes the service answered, with no routing,
// auth, database, cache, logging or metrics: the cost of net/http alone.
func bare(ctx context.Context, args []string, log io.Writer) error {
	fs := flag.NewFlagSet("bare", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:9001", "loopback address to listen on")
	getFile := fs.String("get", "", "file with the body to answer GET with")
	postFile := fs.String("post", "", "file with the body to answer POST with (status 201)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	getBody, err := os.ReadFile(*getFile)
	if err != nil {
		return err
	}
	postBody, err := os.ReadFile(*postFile)
	if err != nil {
		return err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Method == http.MethodPost {
			_, _ = io.Copy(io.Discard, r.Body)
			w.WriteHeader(http.StatusCreated)
			_, _ = w.Write(postBody)
			return
		}
		_, _ = w.Write(getBody)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(log, "bare handler listening on %s\n", ln.Addr())
	go func() {
		<-ctx.Done()
		// ctx is done by now; the drain gets its own budget.
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// token prints an HS256 JWT. It is signed with the standard library so the
// platform module needs no JWT dependency for a benchmark; the service
// verifies it with golang-jwt, so a malformed token fails the run loudly.
func token(args []string, out io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	secret := fs.String("secret", "", "HS256 secret")
	iss := fs.String("iss", "", "issuer")
	aud := fs.String("aud", "", "audience")
	sub := fs.String("sub", "bench", "subject")
	if err := fs.Parse(args); err != nil {
		return err
	}
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	now := time.Now().Unix()
	claims, err := json.Marshal(map[string]any{"iss": *iss, "aud": *aud, "sub": *sub, "iat": now, "exp": now + 3600})
	if err != nil {
		return err
	}
	signing := header + "." + enc.EncodeToString(claims)
	mac := hmac.New(sha256.New, []byte(*secret))
	mac.Write([]byte(signing))
	_, err = fmt.Fprintln(out, signing+"."+enc.EncodeToString(mac.Sum(nil)))
	return err
}

type result struct {
	Name     string  `json:"name"`
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`
	P50ms    float64 `json:"p50_ms"`
	P90ms    float64 `json:"p90_ms"`
	P99ms    float64 `json:"p99_ms"`
	Status   string  `json:"status"`
}

// request describes what every worker sends.
type request struct {
	method, body, token string
	idempotent          bool
	want                int
	conc                int
	maxReq              int64
}

// tally accumulates one target's measurements across rounds.
type tally struct {
	lat      []time.Duration
	errs     int64
	seconds  float64
	statuses map[int]int64
}

// run loads -url, and with -baseline also a second URL, alternating
// between them in -rounds slices so both see the same background load:
// on a shared machine a burst of other work then hurts both sides of the
// ratio instead of one. Each target gets -duration in total.
func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	name := fs.String("name", "", "label of this run (with -baseline: suffixed \" service\" and \" bare\")")
	target := fs.String("url", "", "URL on 127.0.0.1 to load")
	baseline := fs.String("baseline", "", "optional second URL on 127.0.0.1, loaded in alternation")
	method := fs.String("method", http.MethodGet, "GET or POST")
	body := fs.String("body", "", "request body (POST)")
	tok := fs.String("token", "", "bearer token")
	idem := fs.Bool("idempotent", false, "send a fresh Idempotency-Key with every request")
	want := fs.Int("status", 0, "expected status (0: any 2xx)")
	duration := fs.Duration("duration", 20*time.Second, "how long to load each target in total")
	rounds := fs.Int("rounds", 4, "alternations between -url and -baseline")
	conc := fs.Int("c", 32, "concurrent workers")
	maxReq := fs.Int64("max", 5_000_000, "stop a slice after this many requests")
	if err := fs.Parse(args); err != nil {
		return err
	}
	targets := []string{*target}
	names := []string{*name}
	if *baseline != "" {
		targets = append(targets, *baseline)
		names = []string{*name + " service", *name + " bare"}
	}
	for _, t := range targets {
		u, err := url.Parse(t)
		if err != nil {
			return err
		}
		if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("refusing %s: load goes only to a loopback address", t)
		}
	}
	if *rounds < 1 {
		return fmt.Errorf("-rounds %d: must be at least 1", *rounds)
	}
	req := request{method: *method, body: *body, token: *tok, idempotent: *idem, want: *want, conc: *conc, maxReq: *maxReq}
	tr := &http.Transport{MaxIdleConns: 2 * *conc, MaxIdleConnsPerHost: *conc, IdleConnTimeout: time.Minute}
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	defer tr.CloseIdleConnections()
	tallies := make([]*tally, len(targets))
	for i := range tallies {
		tallies[i] = &tally{statuses: map[int]int64{}}
	}
	slice := *duration / time.Duration(*rounds)
	for range *rounds {
		for i, t := range targets {
			if err := ctx.Err(); err != nil {
				return err
			}
			load(ctx, client, t, req, slice, tallies[i])
		}
	}
	enc := json.NewEncoder(out)
	for i, tl := range tallies {
		if err := enc.Encode(summarize(names[i], tl)); err != nil {
			return err
		}
	}
	return nil
}

var keySeq atomic.Int64

// load runs a closed loop of req.conc workers against target for d.
func load(ctx context.Context, client *http.Client, target string, req request, d time.Duration, tl *tally) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var count, errs atomic.Int64
	var mu sync.Mutex
	prefix := strconv.FormatInt(time.Now().UnixNano(), 36)
	start := time.Now()
	var wg sync.WaitGroup
	for range req.conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := make([]time.Duration, 0, 4096)
			localStatus := map[int]int64{}
			for ctx.Err() == nil && count.Add(1) <= req.maxReq {
				var rb io.Reader
				if req.body != "" {
					rb = strings.NewReader(req.body)
				}
				hr, err := http.NewRequestWithContext(ctx, req.method, target, rb)
				if err != nil {
					errs.Add(1)
					continue
				}
				if req.body != "" {
					hr.Header.Set("Content-Type", "application/json")
				}
				if req.token != "" {
					hr.Header.Set("Authorization", "Bearer "+req.token)
				}
				if req.idempotent {
					hr.Header.Set("Idempotency-Key", prefix+"-"+strconv.FormatInt(keySeq.Add(1), 10))
				}
				t0 := time.Now()
				resp, err := client.Do(hr)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				local = append(local, time.Since(t0))
				localStatus[resp.StatusCode]++
				if (req.want != 0 && resp.StatusCode != req.want) || (req.want == 0 && resp.StatusCode/100 != 2) {
					errs.Add(1)
				}
			}
			mu.Lock()
			tl.lat = append(tl.lat, local...)
			for k, v := range localStatus {
				tl.statuses[k] += v
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	tl.seconds += time.Since(start).Seconds()
	tl.errs += errs.Load()
}

func summarize(name string, tl *tally) result {
	slices.Sort(tl.lat)
	q := func(p float64) float64 {
		if len(tl.lat) == 0 {
			return 0
		}
		return float64(tl.lat[int(p*float64(len(tl.lat)-1))].Microseconds()) / 1000
	}
	st, _ := json.Marshal(tl.statuses)
	r := result{Name: name, Requests: int64(len(tl.lat)), Errors: tl.errs, Seconds: tl.seconds,
		P50ms: q(0.50), P90ms: q(0.90), P99ms: q(0.99), Status: string(st)}
	if tl.seconds > 0 {
		r.RPS = float64(len(tl.lat)) / tl.seconds
	}
	return r
}

// report reads the JSON lines of run and prints a table with the
// service/bare ratio of each pair named "<scenario> service" and
// "<scenario> bare".
func report(args []string, out io.Writer) error {
	if len(args) != 1 {
		return errors.New("usage: loadgen report RESULTS.jsonl")
	}
	f, err := os.Open(args[0]) //nolint:gosec // G703: the results file run.sh names
	if err != nil {
		return err
	}
	defer f.Close()
	dec := json.NewDecoder(f)
	byName := map[string]result{}
	var order []string
	for {
		var r result
		if err := dec.Decode(&r); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return err
		}
		byName[r.Name] = r
		order = append(order, r.Name)
	}
	fmt.Fprintf(out, "| run | requests | errors | req/s | p50 ms | p90 ms | p99 ms | statuses |\n|---|---|---|---|---|---|---|---|\n")
	for _, n := range order {
		r := byName[n]
		fmt.Fprintf(out, "| %s | %d | %d | %.0f | %.2f | %.2f | %.2f | %s |\n", n, r.Requests, r.Errors, r.RPS, r.P50ms, r.P90ms, r.P99ms, r.Status)
	}
	fmt.Fprintln(out)
	for _, n := range order {
		svc, ok := byName[n]
		if !ok || len(n) < 8 || n[len(n)-8:] != " service" {
			continue
		}
		scenario := n[:len(n)-8]
		b, ok := byName[scenario+" bare"]
		if !ok || b.RPS == 0 || svc.P50ms == 0 {
			continue
		}
		fmt.Fprintf(out, "%s: service/bare throughput ratio %.3f (%.0f vs %.0f req/s); p50 %.2f vs %.2f ms; p99 %.2f vs %.2f ms\n",
			scenario, svc.RPS/b.RPS, svc.RPS, b.RPS, svc.P50ms, b.P50ms, svc.P99ms, b.P99ms)
	}
	return nil
}
