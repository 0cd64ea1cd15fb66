// Package scaffold holds the files `smpctl gitops init` writes into a new
// smp-gitops repository: delivery.yaml, the README, the environment folders
// and the Argo CD objects under apps/. They live here, as plain files, so the
// manifests can be reviewed and schema-checked like any other YAML in the
// repository; go:embed compiles them into smpctl.
package scaffold

import (
	"embed"
	"io/fs"
)

//go:embed all:files
var files embed.FS

// FS returns the scaffold rooted at the GitOps repository's top level
// (delivery.yaml, README.md, environments/, apps/, state/).
func FS() fs.FS {
	sub, err := fs.Sub(files, "files")
	if err != nil {
		// fs.Sub fails only on an invalid path literal: a build defect.
		panic(err)
	}
	return sub
}

// Default URLs written into apps/*.yaml; init replaces them with the URLs it
// is given, so the files stay valid Argo CD objects as committed here.
const (
	DefaultRepoURL   = "https://github.com/smp/smp-gitops.git"
	DefaultChartRepo = "ghcr.io/smp/charts"
)
