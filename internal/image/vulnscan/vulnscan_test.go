package vulnscan_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/smp/delivery/internal/image/vulnscan"
	"github.com/smp/delivery/internal/testkit/imagetest"
)

const app = `package main

import (
	"encoding/xml"
	"fmt"
	"net/http"
)

var _ = xml.Header // imported, Unmarshal never called

func main() {
	resp, err := http.Get("http://127.0.0.1:1/")
	fmt.Println(resp, err)
}
`

const safeApp = `package main

import "fmt"

func main() { fmt.Println("nothing vulnerable here") }
`

func module(t *testing.T, src string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range map[string]string{"go.mod": "module example.com/app\n\ngo 1.26\n", "main.go": src} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func testDB(t *testing.T) *vulnscan.DB {
	t.Helper()
	date := time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)
	db, err := vulnscan.BuildDB("testdata/osv", filepath.Join(t.TempDir(), "db"), date, "testdata/osv")
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func TestReachableVulnerabilitiesAtOrAboveTheSeverityFail(t *testing.T) {
	t.Parallel()
	imagetest.Tool(t, "govulncheck")
	db := testDB(t)
	if db.Entries != 3 || !db.Date.Equal(time.Date(2026, 11, 5, 23, 49, 57, 0, time.UTC)) {
		t.Fatalf("db %+v", db)
	}
	high, _ := vulnscan.ParseSeverity("high")
	critical, _ := vulnscan.ParseSeverity("critical")
	dir := module(t, app)

	rep, err := vulnscan.Scan(context.Background(), vulnscan.Options{Dir: dir, DB: db, FailOn: high, Unknown: critical})
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]vulnscan.Vuln{}
	for _, v := range rep.Vulns {
		byID[v.ID] = v
	}
	get := byID["GO-2099-0001"]
	if !get.Reachable || !get.Fails || get.Severity != "high" || !get.Known || get.Symbol != "net/http.Get" {
		t.Errorf("GO-2099-0001 (http.Get called): %+v", get)
	}
	if xml, ok := byID["GO-2099-0002"]; ok && (xml.Reachable || xml.Fails) {
		t.Errorf("GO-2099-0002 (imported, not called) must not fail: %+v", xml)
	}
	if _, ok := byID["GO-2099-0003"]; ok {
		t.Error("a vulnerability of an unused module was reported")
	}
	if rep.Failing != 1 || rep.DB.Source != "testdata/osv" || rep.Scanner == "" || rep.GoVersion == "" {
		t.Errorf("report %+v", rep)
	}

	// Above the finding's severity, the same findings pass.
	rep.Judge(critical, critical)
	if rep.Failing != 0 || rep.FailOn != "critical" {
		t.Errorf("fail on critical: %+v", rep)
	}
	// An entry without severity counts as the unknown level: the imported
	// but uncalled one still never fails, being unreachable.
	low, _ := vulnscan.ParseSeverity("low")
	rep.Judge(low, low)
	if rep.Failing != 1 || rep.Unreachable != 1 {
		t.Errorf("fail on low: %+v", rep)
	}
	// A program that calls nothing vulnerable passes.
	rep, err = vulnscan.Scan(context.Background(), vulnscan.Options{Dir: module(t, safeApp), DB: db, FailOn: high, Unknown: critical})
	if err != nil || rep.Failing != 0 {
		t.Errorf("safe program: %+v, %v", rep, err)
	}
}

func TestAScanThatCannotRunFails(t *testing.T) {
	t.Parallel()
	imagetest.Tool(t, "govulncheck")
	db := testDB(t)
	broken := module(t, "package main\n\nfunc main() { undefined() }\n")
	if _, err := vulnscan.Scan(context.Background(), vulnscan.Options{Dir: broken, DB: db}); !errors.Is(err, vulnscan.ErrScanFailed) {
		t.Errorf("a program that does not compile: %v, want ErrScanFailed", err)
	}
	if _, err := vulnscan.Scan(context.Background(), vulnscan.Options{Dir: module(t, safeApp), DB: db, Govulncheck: "no-such-govulncheck"}); !errors.Is(err, vulnscan.ErrScanFailed) {
		t.Errorf("no scanner: %v, want ErrScanFailed", err)
	}
	if _, err := vulnscan.Scan(context.Background(), vulnscan.Options{Dir: module(t, safeApp)}); !errors.Is(err, vulnscan.ErrBadInput) {
		t.Errorf("no database: %v", err)
	}
	if _, err := vulnscan.OpenDB(t.TempDir()); !errors.Is(err, vulnscan.ErrBadInput) {
		t.Errorf("an empty directory as database: %v", err)
	}
	if _, err := vulnscan.BuildDB(t.TempDir(), t.TempDir(), time.Now(), "x"); !errors.Is(err, vulnscan.ErrBadInput) {
		t.Errorf("no entries: %v", err)
	}
	if _, err := vulnscan.ParseSeverity("severe"); !errors.Is(err, vulnscan.ErrBadInput) {
		t.Errorf("unknown severity: %v", err)
	}
}

// The pinned golang.org/x/vulndb module, fetched through the module proxy,
// indexes into a database govulncheck accepts, dated by the module's commit.
func TestTheRealVulnDBBuildsAndScans(t *testing.T) {
	t.Parallel()
	imagetest.Tool(t, "govulncheck")
	cache := t.TempDir()
	db, err := vulnscan.FetchDB(context.Background(), "go", vulnscan.DefaultVulnDB, cache)
	if err != nil {
		t.Fatal(err)
	}
	if db.Entries < 4000 || db.Date.Format(time.RFC3339) != "2026-11-05T23:49:57Z" {
		t.Fatalf("db %+v", db)
	}
	again, err := vulnscan.FetchDB(context.Background(), "go", vulnscan.DefaultVulnDB, cache)
	if err != nil || again.Dir != db.Dir {
		t.Fatalf("cached db: %+v %v", again, err)
	}
	rep, err := vulnscan.Scan(context.Background(), vulnscan.Options{Dir: module(t, safeApp), DB: db})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Scanner == "" || !rep.DB.Date.Equal(db.Date) {
		t.Errorf("report %+v", rep)
	}
}

// Scans that share a cache and find no database build it at the same time
// (parallel jobs on one runner): each gets a whole database, and one stays
// in place, with nothing half-built left beside it.
func TestScansSharingACacheBuildItConcurrently(t *testing.T) {
	t.Parallel()
	cache := t.TempDir()
	const n = 4
	dbs := make([]*vulnscan.DB, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			dbs[i], errs[i] = vulnscan.FetchDB(context.Background(), "go", vulnscan.DefaultVulnDB, cache)
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("scan %d: %v", i, errs[i])
		}
		if dbs[i].Dir != filepath.Join(cache, vulnscan.DefaultVulnDB) || dbs[i].Entries < 4000 {
			t.Errorf("scan %d: %+v", i, dbs[i])
		}
		if _, err := os.Stat(filepath.Join(dbs[i].Dir, "index", "vulns.json")); err != nil {
			t.Errorf("scan %d: %v", i, err)
		}
	}
	left, err := os.ReadDir(cache)
	if err != nil {
		t.Fatal(err)
	}
	if len(left) != 1 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("the cache holds %v, want only %s", names, vulnscan.DefaultVulnDB)
	}
}
