package helmrender_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/testkit/helmrender"
)

func TestLintFailsOnABrokenTemplate(t *testing.T) {
	t.Parallel()
	err := helmrender.Lint("testdata/broken", helmrender.Options{})
	if !errors.Is(err, helmrender.ErrLint) {
		t.Fatalf("want ErrLint, got %v", err)
	}
	if !strings.Contains(err.Error(), "templates/cm.yaml") {
		t.Errorf("lint error does not name the template: %v", err)
	}
}

func TestRenderFailsClearlyForAMissingChartOrValuesFile(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	if _, err := helmrender.Render(ctx, "testdata/no-such-chart", helmrender.Options{}); err == nil || !strings.Contains(err.Error(), "load chart testdata/no-such-chart") {
		t.Errorf("missing chart: %v", err)
	}
	_, err := helmrender.Render(ctx, chartDir, helmrender.Options{ValuesFiles: []string{"testdata/none.yaml"}})
	if err == nil || !strings.Contains(err.Error(), "testdata/none.yaml") {
		t.Errorf("missing values file: %v", err)
	}
	if _, err := helmrender.Render(ctx, chartDir, helmrender.Options{KubeVersion: "one"}); err == nil || !strings.Contains(err.Error(), `kube version "one"`) {
		t.Errorf("bad kube version: %v", err)
	}
}
