package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/smp/delivery/internal/gitops"
	"github.com/smp/delivery/internal/gitops/history"
)

//go:embed assets
var assets embed.FS

// static are the files under /static/, with a content hash each: pages ask
// for file?v=hash, so a browser may keep them forever and still gets a new
// one with a new smpctl.
var static = func() map[string]string {
	m := map[string]string{}
	entries, err := fs.ReadDir(assets, "assets/static")
	if err != nil {
		panic(err) // the embedded tree is part of the binary
	}
	for _, e := range entries {
		b, _ := fs.ReadFile(assets, "assets/static/"+e.Name())
		sum := sha256.Sum256(b)
		m[e.Name()] = hex.EncodeToString(sum[:6])
	}
	return m
}()

func serveAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	hash, ok := static[name]
	if !ok {
		http.NotFound(w, r)
		return
	}
	b, _ := fs.ReadFile(assets, "assets/static/"+name)
	if r.URL.Query().Get("v") == hash {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(b))
}

// pageBase is what every page shows around its content.
type pageBase struct {
	Title  string
	Source string
	// Key is the view's key, the head /events announces: the script fetches
	// the page's live part again when they differ.
	Key   string
	Head  string
	Stale string
	Now   time.Time
}

func (d *Dashboard) base(v *view, title string, now time.Time) pageBase {
	p := pageBase{Title: title, Key: v.key(), Head: v.head, Now: now}
	if v.status != nil {
		p.Source = gitops.Redact(v.status.Source)
	}
	if v.stale != nil {
		p.Stale = v.stale.Error()
	}
	return p
}

// problemPage says why a page cannot be shown, and what to do.
type problemPage struct {
	pageBase
	Heading string
	Message string
	Hint    string
}

// Templates: each page is the layout plus its own "live" block, which is
// also what ?fragment=1 returns for the live update.
var (
	homeTmpl    = "home.html"
	serviceTmpl = "service.html"
	problemTmpl = "problem.html"
)

func (d *Dashboard) parseTemplates() (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"age":    d.age,
		"until":  d.until,
		"digest": history.ShortDigest,
		"short":  short,
		"commit": d.commitURL,
		"run":    runURL,
		"join":   strings.Join,
		"when":   func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04Z") },
		"dur":    duration,
		"days": func(d time.Duration) string {
			if d%(24*time.Hour) == 0 {
				return fmt.Sprintf("%d days", d/(24*time.Hour))
			}
			return d.String()
		},
		"pct": func(p *float64) string {
			if p == nil {
				return "–"
			}
			return fmt.Sprintf("%.0f%%", *p*100)
		},
		"rate":   sayRate,
		"secs":   saySeconds,
		"static": func(name string) string { return "/static/" + name + "?v=" + static[name] },
		"pathq":  func(s string) string { return url.QueryEscape(s) },
		"action": func(a history.Action) string {
			if a == "" {
				return "by hand"
			}
			return string(a)
		},
	}
	out := map[string]*template.Template{}
	for _, page := range []string{homeTmpl, serviceTmpl, problemTmpl} {
		t, err := template.New(page).Funcs(funcs).ParseFS(assets, "assets/layout.html", path.Join("assets", page))
		if err != nil {
			return nil, fmt.Errorf("parse dashboard template %s: %w", page, err)
		}
		out[page] = t
	}
	return out, nil
}

// render writes page p, or only its live part for ?fragment=1. The page is
// rendered into memory first so a template error is a 500, not half a page.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, page string, p any) {
	d.renderStatus(w, r, http.StatusOK, page, p)
}

func (d *Dashboard) renderStatus(w http.ResponseWriter, r *http.Request, code int, page string, p any) {
	name := "layout"
	if r.URL.Query().Get("fragment") == "1" {
		name = "live"
	}
	var buf bytes.Buffer
	if err := d.tmpl[page].ExecuteTemplate(&buf, name, p); err != nil {
		d.o.Log.Error("dashboard: render", "page", page, "err", err)
		http.Error(w, "rendering the page failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	// A page is the repository at one moment: never show a cached one.
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", fmt.Sprint(buf.Len()))
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes()) // an error is a client that went away: nothing to do
}

// renderError shows why the repository cannot be read, and what to do;
// the page keeps listening and shows the repository once it can.
func (d *Dashboard) renderError(w http.ResponseWriter, r *http.Request, v *view) {
	p := problemPage{pageBase: d.base(v, "GitOps repository unavailable", d.o.Now()), Message: v.err.Error()}
	if errors.Is(v.err, history.ErrNotGitOps) {
		p.Heading = "This is not an smp-gitops repository"
		p.Hint = "Start the dashboard with --gitops pointing at a clone, a bare repository or the URL of smp-gitops — a repository whose HEAD has delivery.yaml (smpctl gitops init creates one). This page shows the repository as soon as it is one."
	} else {
		p.Heading = "The GitOps repository cannot be read"
		p.Hint = "Check --gitops (and SMP_GIT_TOKEN or --gitops-ca-file for an https remote). This page retries at every poll and shows the repository as soon as it can be read."
	}
	d.renderStatus(w, r, http.StatusServiceUnavailable, problemTmpl, &p)
}

func (d *Dashboard) renderProblem(w http.ResponseWriter, r *http.Request, v *view, code int, heading, msg string) {
	p := problemPage{pageBase: d.base(v, heading, d.o.Now()), Heading: heading, Message: msg}
	d.renderStatus(w, r, code, problemTmpl, &p)
}

func (d *Dashboard) serverError(w http.ResponseWriter, r *http.Request, what string, err error) {
	d.o.Log.Error("dashboard: read", "what", what, "path", r.URL.Path, "err", err)
	v := d.current()
	if v == nil {
		v = &view{}
	}
	d.renderProblem(w, r, v, http.StatusInternalServerError, "Reading the GitOps repository failed",
		fmt.Sprintf("%s: %v. Reload the page to try again; the dashboard's log has the details.", what, err))
}

func (d *Dashboard) notFound(w http.ResponseWriter, r *http.Request) {
	v := d.current()
	if v == nil {
		v = &view{}
	}
	d.renderProblem(w, r, v, http.StatusNotFound, "No such page",
		fmt.Sprintf("%s is not a page of the dashboard: the matrix is at /, a service at /services/NAME.", r.URL.Path))
}

// age is how long ago t was, to the unit a reader needs.
func (d *Dashboard) age(t *time.Time) string {
	if t == nil {
		return "–"
	}
	return span(d.o.Now().Sub(*t))
}

// until is how long until t, to the unit a reader needs ("now" once past).
func (d *Dashboard) until(t *time.Time) string {
	if t == nil {
		return "–"
	}
	return span(t.Sub(d.o.Now()))
}

// span is a, truncated to its largest unit: "now", 42m, 17h, 3d.
func span(a time.Duration) string {
	switch {
	case a < time.Minute:
		return "now"
	case a < time.Hour:
		return fmt.Sprintf("%dm", int(a/time.Minute))
	case a < 48*time.Hour:
		return fmt.Sprintf("%dh", int(a/time.Hour))
	}
	return fmt.Sprintf("%dd", int(a/(24*time.Hour)))
}

// commitURL links a GitOps commit through Options.CommitURL, else through
// delivery.yaml's notifications.commitURL at the head shown (the link the
// notifications already give, so one setting serves both); "" without
// either.
func (d *Dashboard) commitURL(sha string) string {
	if sha == "" {
		return ""
	}
	if d.o.CommitURL != "" {
		return strings.ReplaceAll(d.o.CommitURL, "{commit}", url.PathEscape(sha))
	}
	if v := d.current(); v != nil && v.status != nil && v.status.Config != nil {
		return v.status.Config.Notifications.CommitLink(url.PathEscape(sha))
	}
	return ""
}

// runURL is a Pipeline-Run trailer as a link, when it is an http(s) URL: the
// trailer is free text a hand-made commit could fill with anything.
func runURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.String()
}

func duration(n int, secs float64) string {
	if n == 0 {
		return "–"
	}
	return (time.Duration(secs * float64(time.Second))).Round(time.Minute).String()
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}
