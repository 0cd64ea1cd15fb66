package scaffold

import (
	"io/fs"
	"testing"

	"github.com/smp/delivery/internal/testkit/kubeschema"
	"github.com/smp/delivery/internal/testkit/testctx"
)

// TestAppsAreValidArgoCDObjects validates the Argo CD objects gitops init
// writes (AppProjects and ApplicationSets) strictly against the CRD schemas
// shipped in the argo-cd module, as a cluster's API server would.
func TestAppsAreValidArgoCDObjects(t *testing.T) {
	t.Parallel()
	v, err := kubeschema.Default(testctx.New(t))
	if err != nil {
		t.Fatalf("load schemas: %v", err)
	}
	for _, env := range []string{"dev", "staging", "prod"} {
		p := "apps/" + env + "-apps.yaml"
		b, err := fs.ReadFile(FS(), p)
		if err != nil {
			t.Fatal(err)
		}
		if err := v.Validate(b); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if !v.Knows("argoproj.io/v1alpha1", "ApplicationSet") || !v.Knows("argoproj.io/v1alpha1", "AppProject") {
		t.Fatal("the validator does not know the Argo CD kinds this test relies on")
	}
}
