// Command trivydb builds a Trivy vulnerability database from Go's
// vulnerability database, for running `trivy fs` where Trivy's own database
// (an OCI artifact on ghcr.io) cannot be downloaded.
//
//	trivydb VULNDB_DIR OUT_DIR
//
// VULNDB_DIR is a golang.org/x/vulndb module directory (its data/osv holds
// the OSV entries; `go mod download -json golang.org/x/vulndb@V` gives it).
// OUT_DIR receives trivy.db and metadata.json: point TRIVY_CACHE_DIR at its
// parent when OUT_DIR is named db.
//
// It uses trivy-db's own OSV loader and build steps, as Trivy's database
// builder does, with one difference: trivy-db keeps only standard library
// and golang.org/x entries of Go's database (it takes the others from
// GitHub's advisories, unreachable here); this keeps every entry. Go's
// entries carry no severity, so every finding is UNKNOWN.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/ecosystem"
	"github.com/aquasecurity/trivy-db/pkg/types"
	"github.com/aquasecurity/trivy-db/pkg/vulndb"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/osv"
	"github.com/aquasecurity/trivy-db/pkg/vulnsrc/vulnerability"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: trivydb VULNDB_DIR OUT_DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2]); err != nil {
		fmt.Fprintln(os.Stderr, "trivydb:", err)
		os.Exit(1)
	}
}

func run(vulndbDir, out string) error {
	if err := db.Init(out); err != nil {
		return fmt.Errorf("open %s: %w", db.Path(out), err)
	}
	defer db.Close()
	src := osv.New("data/osv", vulnerability.GoVulnDB, map[ecosystem.Type]types.DataSource{
		ecosystem.Go: {ID: vulnerability.GoVulnDB, Name: "The Go Vulnerability Database", URL: "https://pkg.go.dev/vuln/"},
	}, osv.WithTransformer(allModules{}))
	b := vulndb.New(vulndbDir, out, 24*time.Hour,
		vulndb.WithVulnSrcs(map[types.SourceID]vulnsrc.VulnSrc{vulnerability.GoVulnDB: src}))
	if err := b.Build([]string{string(vulnerability.GoVulnDB)}); err != nil {
		return fmt.Errorf("build from %s: %w", vulndbDir, err)
	}
	return nil
}

// allModules is trivy-db's govulndb transformer without its filter.
type allModules struct{}

func (allModules) PostParseAffected(adv osv.Advisory, affected osv.Affected) (osv.Advisory, error) {
	for _, imp := range affected.EcosystemSpecific.Imports {
		adv.OSes = append(adv.OSes, imp.GOOS...)
		adv.Arches = append(adv.Arches, imp.GOARCH...)
	}
	return adv, nil
}

func (allModules) TransformAdvisories(advs []osv.Advisory, entry osv.Entry) ([]osv.Advisory, error) {
	var specific struct {
		URL string `json:"url"`
	}
	if len(entry.DatabaseSpecific) > 0 {
		if err := json.Unmarshal(entry.DatabaseSpecific, &specific); err != nil {
			return nil, fmt.Errorf("%s: database_specific: %w", entry.ID, err)
		}
	}
	for i := range advs {
		if specific.URL != "" {
			advs[i].References = append(advs[i].References, specific.URL)
		}
	}
	return advs, nil
}
