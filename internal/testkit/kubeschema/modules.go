package kubeschema

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
)

// Module names a Go module and the schema files inside it. Schemas are read from the module
// cache at run time (never committed), so bumping a version here is the only step needed to
// validate against a newer API.
type Module struct {
	Path    string   // module path, e.g. "k8s.io/kubernetes"
	Version string   // exact module version
	Files   []string // slash-separated paths of schema files inside the module
}

// String returns path@version.
func (m Module) String() string { return m.Path + "@" + m.Version }

// Kubernetes is the module whose OpenAPI v2 document describes every built-in kind.
var Kubernetes = Module{
	Path:    "k8s.io/kubernetes",
	Version: "v1.35.0",
	Files:   []string{"api/openapi-spec/swagger.json"},
}

// CRDModules are the modules whose shipped CustomResourceDefinitions we validate against: the
// versions are the ones the platform runs (docs/tools.md), so a field the controller does not know
// fails here rather than being pruned silently in the cluster.
var CRDModules = []Module{
	{
		Path:    "github.com/argoproj/argo-rollouts",
		Version: "v1.8.5",
		Files:   []string{"manifests/crds/rollout-crd.yaml"},
	},
	{
		Path:    "github.com/argoproj/argo-cd/v3",
		Version: "v3.2.11",
		Files: []string{
			"manifests/crds/application-crd.yaml",
			"manifests/crds/applicationset-crd.yaml",
			"manifests/crds/appproject-crd.yaml",
		},
	},
	{
		Path:    "github.com/prometheus-operator/prometheus-operator",
		Version: "v0.85.0",
		Files: []string{
			"example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml",
			"example/prometheus-operator-crd/monitoring.coreos.com_prometheusrules.yaml",
		},
	},
	{
		Path:    "github.com/kyverno/kyverno",
		Version: "v1.19.1",
		// Namespaced Policy is left out: its CRD is another 1.4 MB to parse and SMP uses
		// ClusterPolicies only.
		Files: []string{"config/crds/kyverno/kyverno.io_clusterpolicies.yaml"},
	},
}

// download fetches m into the module cache (a no-op when it is already there) and returns the
// directory holding its files. It runs the go command because that is what owns the cache, its
// checksum database and its proxy configuration. ctx bounds it: a cold fetch of
// k8s.io/kubernetes is ~121 MB, and only the caller knows how long it may wait.
func download(ctx context.Context, goCmd string, m Module) (string, error) {
	cmd := exec.CommandContext(ctx, goCmd, "mod", "download", "-json", m.String())
	// Outside any module or workspace, so the repository's go.mod is neither read nor changed.
	cmd.Dir = os.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var out struct {
		Dir   string
		Error string
	}
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		if runErr != nil {
			return "", fmt.Errorf("go mod download %s: %w: %s", m, runErr, bytes.TrimSpace(stderr.Bytes()))
		}
		return "", fmt.Errorf("go mod download %s: decode output: %w", m, err)
	}
	if out.Error != "" {
		return "", fmt.Errorf("go mod download %s: %s", m, out.Error)
	}
	if runErr != nil {
		return "", fmt.Errorf("go mod download %s: %w: %s", m, runErr, bytes.TrimSpace(stderr.Bytes()))
	}
	if out.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no directory in output", m)
	}
	return out.Dir, nil
}
