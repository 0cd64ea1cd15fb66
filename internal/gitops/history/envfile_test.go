package history

import (
	"strings"
	"testing"
)

// status and diff rely on the image and chart blocks only; the rest of the
// values file is the team's and never makes a file unreadable.
func TestParseEnvFileReadsWhatStatusShows(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, body string
		want       EnvFile
		err        string
	}{
		{"the owned keys", "image: {repository: r/x, tag: 1.0.0, digest: d}\nchart: {version: 0.2.0}\n", EnvFile{Repository: "r/x", Tag: "1.0.0", Digest: "d", ChartVersion: "0.2.0", Strategy: "rolling"}, ""},
		{"a strategy as a string", "strategy: blueGreen\n", EnvFile{Strategy: "blueGreen"}, ""},
		{"the chart's map form of strategy", "strategy: {blueGreen: {autoPromotionEnabled: false}}\n", EnvFile{Strategy: "blueGreen"}, ""},
		{"a strategy that is not a string", "strategy: 5\n", EnvFile{Strategy: "rolling"}, ""},
		{"keys status does not read, of any shape", "replicaCount: three\nblueGreen: true\nresources: [a]\n", EnvFile{Strategy: "rolling"}, ""},
		{"an image that is a string", "image: r/x:1\n", EnvFile{}, "image:"},
		{"a chart that is a string", "chart: 0.1.0\n", EnvFile{}, "chart:"},
		{"not YAML", "image: [\n", EnvFile{}, "not a YAML mapping"},
		{"a list", "- a\n", EnvFile{}, "not a YAML mapping"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got := parseEnvFile([]byte(tc.body))
			if tc.err != "" {
				if !strings.Contains(got.Err, tc.err) {
					t.Fatalf("Err = %q, want it to mention %q", got.Err, tc.err)
				}
				return
			}
			if got != tc.want {
				t.Fatalf("parseEnvFile = %+v, want %+v", got, tc.want)
			}
		})
	}
}
