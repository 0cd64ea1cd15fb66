package demo

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/local/engines"
	"github.com/smp/delivery/internal/testkit/kubeschema"
)

func TestTheServiceMonitorCRDIsTheOneTheChartIsValidatedAgainst(t *testing.T) {
	for _, m := range kubeschema.CRDModules {
		if m.Path == "github.com/prometheus-operator/prometheus-operator" {
			if m.String() != serviceMonitorCRDs {
				t.Errorf("the demo applies %s, kubeschema validates the chart against %s: pin one version", serviceMonitorCRDs, m)
			}
			return
		}
	}
	t.Fatal("kubeschema.CRDModules pins no prometheus-operator module")
}

func TestBadEnginesOrMissingBinariesStopBeforeTheWorkspaceIsMade(t *testing.T) {
	main := func(context.Context, []string, io.Writer, io.Writer) int { return 0 }
	for _, tc := range []struct {
		name  string
		o     Options
		check func(error) bool
	}{
		{"an engine that does not exist is invalid input", Options{Engines: "docker"}, fault.IsInvalid},
		{"unbuilt engines say how to build them", Options{Engines: EnginesKubernetes, Main: main, KubeBinDir: t.TempDir()},
			func(err error) bool { return errors.Is(err, engines.ErrMissingBinaries) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Workspace = filepath.Join(t.TempDir(), "ws")
			_, err := Run(t.Context(), tc.o)
			if !tc.check(err) {
				t.Errorf("Run = %v", err)
			}
			if _, serr := os.Stat(tc.o.Workspace); !os.IsNotExist(serr) {
				t.Errorf("the workspace was made (stat: %v)", serr)
			}
		})
	}
}
