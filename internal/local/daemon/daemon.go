package daemon

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/go-containerregistry/pkg/registry"

	"github.com/smp/delivery/internal/dashboard"
	"github.com/smp/delivery/internal/gitops/history"
	"github.com/smp/delivery/internal/local/cluster"
	"github.com/smp/delivery/internal/local/freeport"
	"github.com/smp/delivery/internal/local/promserver"
)

// Options of the daemon.
type Options struct {
	// Dir is the folder everything lives in.
	Dir string
	// MySQLAddr is the MariaDB the environments' databases live on;
	// default 127.0.0.1:3306.
	MySQLAddr string
	// RedisAddr; default 127.0.0.1:6379.
	RedisAddr string
	// DBPrefix prefixes database names; default smp_.
	DBPrefix string
	// RedisBase is added to each environment's Redis db number; default 0
	// (dev 1, staging 2, prod 3).
	RedisBase int
	// PollInterval of the runtime's git loop; default 500ms.
	PollInterval time.Duration
	// Init scaffolds the smp-gitops repository into the bare repository at
	// the given path when it does not exist yet; default Scaffold.
	Init func(ctx context.Context, bare string) error
	// Logger for the daemon's own log.
	Logger *slog.Logger
}

// JWT settings the local services get and smoke tokens carry.
const (
	JWTIssuer   = "smp-local"
	JWTAudience = "smp-api"
)

// Serve runs the daemon until ctx ends or a client asks it to shut down:
// it starts the registry, Prometheus and the runtime, publishes state.json
// and serves the control API. Everything it started is stopped on return.
func Serve(ctx context.Context, o Options) (err error) {
	if o.MySQLAddr == "" {
		o.MySQLAddr = "127.0.0.1:3306"
	}
	if o.RedisAddr == "" {
		o.RedisAddr = "127.0.0.1:6379"
	}
	if o.DBPrefix == "" {
		o.DBPrefix = "smp_"
	}
	if o.PollInterval == 0 {
		o.PollInterval = 500 * time.Millisecond
	}
	if o.Init == nil {
		o.Init = Scaffold
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if _, err := ReadState(dir); err == nil {
		return fmt.Errorf("a local environment already runs in %s (smpctl local down first)", dir)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	p, err := choosePorts(dir)
	if err != nil {
		return err
	}

	// Registry: blobs on disk, manifests in memory.
	if err := os.MkdirAll(filepath.Join(dir, "registry"), 0o755); err != nil {
		return err
	}
	regLn, err := listen(p.Registry)
	if err != nil {
		return fmt.Errorf("registry: %w", err)
	}
	regSrv := &http.Server{
		Handler: registry.New(
			registry.WithBlobHandler(registry.NewDiskBlobHandler(filepath.Join(dir, "registry"))),
			registry.WithReferrersSupport(true),
			registry.Logger(log.New(logWriter{o.Logger}, "registry: ", 0)),
		),
		ReadHeaderTimeout: 10 * time.Second,
	}
	go func() { _ = regSrv.Serve(regLn) }()
	defer regSrv.Close()
	regHost := regLn.Addr().String()

	// GitOps remote.
	bare := filepath.Join(dir, "gitops.git")
	if _, err := os.Stat(filepath.Join(bare, "HEAD")); err != nil {
		if err := o.Init(ctx, bare); err != nil {
			return fmt.Errorf("initialize the smp-gitops remote: %w", err)
		}
	}

	secret, err := jwtSecret(dir)
	if err != nil {
		return err
	}
	if err := writeSmokeToken(dir, secret); err != nil {
		return err
	}

	prom, err := promserver.Start(ctx, promserver.Options{Dir: filepath.Join(dir, "prometheus"), Port: p.Prometheus})
	if err != nil {
		return err
	}
	defer func() { _ = prom.Stop() }()

	var rt *cluster.Runtime
	rt, err = cluster.New(cluster.Config{
		Dir:      filepath.Join(dir, "runtime"),
		Git:      &cluster.GitRepo{Remote: bare, Dir: filepath.Join(dir, "runtime", "gitops-clone.git")},
		Images:   &cluster.Registry{Cache: filepath.Join(dir, "runtime", "images"), Mirror: regHost},
		Database: cluster.Database{Addr: o.MySQLAddr, Prefix: o.DBPrefix},
		Redis:    cluster.Redis{Addr: o.RedisAddr, Base: o.RedisBase, Prefix: o.DBPrefix},
		ServiceEnv: func(env, svc string) []string {
			return []string{"JWT_SECRET=" + secret, "JWT_ISSUER=" + JWTIssuer, "JWT_AUDIENCE=" + JWTAudience, "LOG_LEVEL=info"}
		},
		OnChange: func() {
			if err := prom.SetTargets(rt.Targets()); err != nil {
				o.Logger.Warn("write scrape targets", "err", err)
			}
		},
		PollInterval: o.PollInterval,
		Logger:       o.Logger,
	})
	if err != nil {
		return err
	}
	defer rt.Close()
	if err := rt.Load(ctx); err != nil {
		return fmt.Errorf("read the smp-gitops remote %s: %w", bare, err)
	}
	// Automated environments are synced before the daemon reports ready,
	// so `local up` returns with dev already serving what git says.
	for _, e := range rt.Status().Envs {
		if e.Sync == "automated" {
			if _, err := rt.Sync(ctx, e.Name); err != nil {
				o.Logger.Warn("first sync", "env", e.Name, "err", err)
			}
		}
	}
	rtDone := make(chan struct{})
	go func() { _ = rt.Run(ctx); close(rtDone) }()
	defer func() { cancel(); <-rtDone }()

	ctlLn, err := listen(p.Control)
	if err != nil {
		return fmt.Errorf("control API: %w", err)
	}
	// The dashboard of the local smp-gitops, as `smpctl dashboard` serves it.
	dashLn, err := listen(p.Dashboard)
	if err != nil {
		return fmt.Errorf("dashboard: %w", err)
	}
	dash, err := dashboard.New(func(ctx context.Context) (*history.Repo, error) {
		return history.Open(ctx, bare, history.OpenOptions{})
	}, dashboard.Options{Poll: o.PollInterval, Log: o.Logger, LiveWhere: "the local runtime",
		// Each cell also shows what the runtime runs, as status --local
		// prints it: the page is where the demo is watched.
		Live: LiveReader(func(context.Context) (cluster.Status, error) { return rt.Status(), nil })})
	if err != nil {
		return err
	}
	dashDone := make(chan struct{})
	go func() { _ = dashboard.Serve(ctx, dashLn, dash); close(dashDone) }()
	defer func() { cancel(); <-dashDone }()
	st := State{
		PID: os.Getpid(), Control: "http://" + ctlLn.Addr().String(), Registry: regHost,
		Prometheus: prom.URL, GitOps: bare, Dir: dir, Started: time.Now().UTC(),
		Dashboard: "http://" + dashLn.Addr().String() + "/",
		MySQL:     o.MySQLAddr, DBPrefix: o.DBPrefix,
	}
	token, err := newControlToken(dir)
	if err != nil {
		return err
	}
	defer os.Remove(tokenPath(dir))
	ctl := &http.Server{Handler: guard(controlAPI(rt, st, cancel), token, ctlLn.Addr().String()), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = ctl.Serve(ctlLn) }()
	defer ctl.Close()
	if err := writeJSON(statePath(dir), st, 0o644); err != nil {
		return err
	}
	defer os.Remove(statePath(dir))
	o.Logger.Info("local environment up", "control", st.Control, "registry", regHost, "prometheus", prom.URL)
	<-ctx.Done()
	o.Logger.Info("shutting down")
	return nil
}

func listen(port int) (net.Listener, error) {
	lc := &net.ListenConfig{}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil && port != 0 {
		// The remembered port is taken: take any.
		ln, err = lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	}
	return ln, err
}

func choosePorts(dir string) (ports, error) {
	path := filepath.Join(dir, "ports.json")
	var p ports
	if b, err := os.ReadFile(path); err == nil && json.Unmarshal(b, &p) == nil && p.Control != 0 {
		return p, nil
	}
	// Prometheus is a child that binds its port after it starts: ports
	// from below the ephemeral range, which no outgoing connection takes
	// meanwhile (freeport).
	for _, f := range []*int{&p.Control, &p.Registry, &p.Prometheus, &p.Dashboard} {
		port, err := freeport.Pick()
		if err != nil {
			return p, err
		}
		*f = port
	}
	return p, writeJSON(path, p, 0o644)
}

func jwtSecret(dir string) (string, error) {
	path := filepath.Join(dir, "jwt-secret")
	if b, err := os.ReadFile(path); err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		return strings.TrimSpace(string(b)), nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	s := hex.EncodeToString(b)
	return s, os.WriteFile(path, []byte(s+"\n"), 0o600)
}

// writeSmokeToken writes a day-long HS256 token the local services accept,
// for smpctl smoke --token-file <dir>/smoke.jwt.
func writeSmokeToken(dir, secret string) error {
	now := time.Now()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Issuer: JWTIssuer, Audience: jwt.ClaimStrings{JWTAudience}, Subject: "smoke-test",
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(24 * time.Hour)),
	}).SignedString([]byte(secret))
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "smoke.jwt"), []byte(tok+"\n"), 0o600)
}

type logWriter struct{ l *slog.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.l.Debug(strings.TrimSpace(string(p)))
	return len(p), nil
}

// tokenPath is the control API's bearer token: readable by the user who
// started the daemon only (0600), so another local user can neither stop
// the daemon nor drive its rollouts.
func tokenPath(dir string) string { return filepath.Join(dir, "control.token") }

// newControlToken writes a fresh random token for this run of the daemon.
func newControlToken(dir string) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	token := hex.EncodeToString(b)
	path := tokenPath(dir)
	_ = os.Remove(path) // a token file left by a killed daemon, perhaps with looser modes
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return "", fmt.Errorf("write the control API token: %w", err)
	}
	if _, err := f.WriteString(token); err != nil {
		return "", errors.Join(fmt.Errorf("write the control API token: %w", err), f.Close())
	}
	return token, f.Close()
}

// guard admits a request to the control API only with the bearer token,
// addressed to the API's own host (a page cannot reach it through a DNS
// name that resolves to 127.0.0.1), and not from a browser page (the CLI
// never sends Origin; a browser always does on the requests that change
// something, and Sec-Fetch-Site on all of them).
func guard(next http.Handler, token, host string) http.Handler {
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		deny := func(code int, msg string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(code)
			_ = json.NewEncoder(w).Encode(apiError{Error: msg, Kind: "refused"})
		}
		switch {
		case r.Header.Get("Origin") != "" || r.Header.Get("Sec-Fetch-Site") != "":
			deny(http.StatusForbidden, "the local environment's control API does not answer browser pages")
		case r.Host != host:
			deny(http.StatusForbidden, "the local environment's control API answers only at "+host)
		case subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1:
			deny(http.StatusUnauthorized, "the local environment's control API needs the token in "+"control.token (readable by the user who ran smpctl local up)")
		default:
			next.ServeHTTP(w, r)
		}
	})
}

// apiError is the control API's error body; Kind lets clients pick exit
// codes: "input" (bad input, 2) or "refused" (1).
type apiError struct {
	Error string `json:"error"`
	Kind  string `json:"kind"`
}

func controlAPI(rt *cluster.Runtime, st State, shutdown func()) http.Handler {
	mux := http.NewServeMux()
	reply := func(w http.ResponseWriter, code int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(v)
	}
	fail := func(w http.ResponseWriter, err error) {
		switch {
		case errors.Is(err, cluster.ErrUnknownEnv), errors.Is(err, cluster.ErrUnknownService):
			reply(w, http.StatusNotFound, apiError{Error: err.Error(), Kind: "input"})
		case errors.Is(err, cluster.ErrNothingToAbort), errors.Is(err, cluster.ErrNothingToPromote):
			reply(w, http.StatusConflict, apiError{Error: err.Error(), Kind: "refused"})
		default:
			reply(w, http.StatusInternalServerError, apiError{Error: err.Error(), Kind: "refused"})
		}
	}
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { reply(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, 200, StatusReport{State: st, Runtime: rt.Status()})
	})
	mux.HandleFunc("GET /targets", func(w http.ResponseWriter, _ *http.Request) { reply(w, 200, rt.Targets()) })
	mux.HandleFunc("POST /refresh", func(w http.ResponseWriter, _ *http.Request) {
		rt.Refresh()
		reply(w, 202, map[string]string{"status": "refreshing"})
	})
	mux.HandleFunc("POST /sync/{env}", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
		defer cancel()
		es, err := rt.Sync(ctx, r.PathValue("env"))
		if errors.Is(err, cluster.ErrUnknownEnv) {
			fail(w, err)
			return
		}
		res := SyncResult{Env: es}
		if err != nil {
			res.Error = err.Error()
		}
		reply(w, 200, res)
	})
	mux.HandleFunc("POST /rollout/{env}/{svc}/{action}", func(w http.ResponseWriter, r *http.Request) {
		var err error
		switch r.PathValue("action") {
		case "promote":
			err = rt.Promote(r.PathValue("env"), r.PathValue("svc"))
		case "abort":
			err = rt.Abort(r.PathValue("env"), r.PathValue("svc"))
		default:
			reply(w, 404, apiError{Error: "unknown action " + r.PathValue("action") + ": use promote or abort", Kind: "input"})
			return
		}
		if err != nil {
			fail(w, err)
			return
		}
		reply(w, 200, map[string]string{"status": "done"})
	})
	mux.HandleFunc("POST /shutdown", func(w http.ResponseWriter, _ *http.Request) {
		reply(w, 202, map[string]string{"status": "shutting down"})
		go shutdown()
	})
	return mux
}

// StatusReport is GET /status.
type StatusReport struct {
	State   State          `json:"state"`
	Runtime cluster.Status `json:"runtime"`
}

// SyncResult is POST /sync/{env}.
type SyncResult struct {
	Env   cluster.EnvStatus `json:"environment"`
	Error string            `json:"error,omitempty"`
}
