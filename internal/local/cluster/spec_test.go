package cluster

import (
	"errors"
	"strings"
	"testing"
	"time"
)

const digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

func TestParseServiceFileReadsWhatTheRuntimeNeeds(t *testing.T) {
	t.Parallel()
	s, err := ParseServiceFile("order-svc", []byte(`# prod
image:
  repository: ghcr.io/smp/order-svc
  tag: 3.3.0
  digest: `+digestA+`
chart:
  version: 0.1.0
replicaCount: 4
strategy: blueGreen
blueGreen:
  autoPromotionEnabled: true
  scaleDownDelaySeconds: 300
resources: {limits: {cpu: 1}}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := ServiceSpec{Name: "order-svc", Repository: "ghcr.io/smp/order-svc", Tag: "3.3.0", Digest: digestA, Replicas: 4,
		Strategy: StrategyBlueGreen, ScaleDownDelay: 300 * time.Second, AutoPromote: true}
	if s != want {
		t.Errorf("got %+v\nwant %+v", s, want)
	}
	d, err := ParseServiceFile("x", []byte("image:\n  repository: r/x\n  tag: 1\n  digest: "+digestA+"\n"))
	if err != nil || d.Replicas != 1 || d.Strategy != StrategyRolling || d.ScaleDownDelay != DefaultScaleDownDelay || d.AutoPromote {
		t.Errorf("defaults: %+v %v", d, err)
	}
}

// The runtime relies on image, replicaCount, strategy and blueGreen only:
// keys of the chart it does not read never stop it, whatever their shape.
func TestParseServiceFileIgnoresKeysItDoesNotRead(t *testing.T) {
	t.Parallel()
	body := "image: {repository: r/x, tag: 1, digest: " + digestA + "}\nchart: 0.1.0\nresources: [a]\n"
	s, err := ParseServiceFile("x", []byte(body))
	if err != nil || s.Digest != digestA || s.Replicas != 1 || s.Strategy != StrategyRolling {
		t.Fatalf("ParseServiceFile = %+v, %v", s, err)
	}
}

func TestParseServiceFileRefusesWhatCannotRun(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, body, want string }{
		{"a tag without a digest", "image: {repository: r/x, tag: 1.0.0}", "pin the image by digest"},
		{"a short digest", "image: {repository: r/x, tag: 1, digest: sha256:abc}", "not sha256:<64 hex>"},
		{"an upper-case digest", "image: {repository: r/x, tag: 1, digest: " + strings.ToUpper(digestA) + "}", "not sha256"},
		{"no repository", "image: {tag: 1, digest: " + digestA + "}", "image.repository is empty"},
		{"negative replicas", "image: {repository: r/x, tag: 1, digest: " + digestA + "}\nreplicaCount: -1", "replicaCount -1"},
		{"too many replicas", "image: {repository: r/x, tag: 1, digest: " + digestA + "}\nreplicaCount: 500", "replicaCount 500"},
		{"an unknown strategy", "image: {repository: r/x, tag: 1, digest: " + digestA + "}\nstrategy: canary", `strategy "canary"`},
		{"a negative delay", "image: {repository: r/x, tag: 1, digest: " + digestA + "}\nblueGreen: {scaleDownDelaySeconds: -5}", "use 0 to 86400"},
		{"an overflowing delay", "image: {repository: r/x, tag: 1, digest: " + digestA + "}\nblueGreen: {scaleDownDelaySeconds: 9223372036854775807}", "use 0 to 86400"},
		{"not YAML", "image: [", "parse"},
		{"an image that is a string", "image: r/x:1@" + digestA, "parse: image:"},
		{"replicas that are not a number", "image: {repository: r/x, tag: 1, digest: " + digestA + "}\nreplicaCount: three", "parse: replicaCount:"},
		{"the chart's map form of strategy", "image: {repository: r/x, tag: 1, digest: " + digestA + "}\nstrategy: {blueGreen: {}}", "the chart's map form"},
		{"a strategy that is not a string", "image: {repository: r/x, tag: 1, digest: " + digestA + "}\nstrategy: 5", "parse: strategy:"},
		{"blueGreen that is not a mapping", "image: {repository: r/x, tag: 1, digest: " + digestA + "}\nblueGreen: true", "parse: blueGreen:"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseServiceFile("x", []byte(tc.body))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := ParseServiceFile("x", []byte("image:\n  repository: ghcr.io/smp/x\nreplicaCount: 1\n")); !errors.Is(err, ErrNotDeployed) {
		t.Errorf("a file with no image yet: %v, want ErrNotDeployed", err)
	}
}

func TestParseAppsFileFindsAutomatedSync(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		want       bool
	}{
		{"an automated Application", "kind: Application\nspec:\n  syncPolicy:\n    automated: {prune: true}\n", true},
		{"an ApplicationSet template", "kind: AppProject\n---\nkind: ApplicationSet\nspec:\n  template:\n    spec:\n      syncPolicy:\n        automated:\n          selfHeal: true\n", true},
		{"an empty automated block", "kind: Application\nspec:\n  syncPolicy:\n    automated: {}\n", true},
		{"no syncPolicy", "kind: Application\nspec: {project: default}\n", false},
		{"automated: null", "kind: Application\nspec:\n  syncPolicy:\n    automated: null\n", false},
		{"automated on another kind", "kind: ConfigMap\nspec:\n  syncPolicy:\n    automated: {}\n", false},
	}
	for _, tc := range cases {
		got, err := ParseAppsFile([]byte(tc.body))
		if err != nil || got != tc.want {
			t.Errorf("%s: %v %v, want %v", tc.name, got, err, tc.want)
		}
	}
	if _, err := ParseAppsFile([]byte("kind: [")); err == nil {
		t.Error("bad YAML accepted")
	}
}

func TestBuildSnapshotFollowsDeliveryYAML(t *testing.T) {
	t.Parallel()
	svc := "image: {repository: r/x, tag: 1, digest: " + digestA + "}\n"
	snap, err := BuildSnapshot("rev", map[string][]byte{
		"delivery.yaml":                     []byte(deliveryYAML),
		"apps/dev-apps.yaml":                []byte(appsDev),
		"environments/dev/order-svc.yaml":   []byte(svc),
		"environments/prod/order-svc.yaml":  []byte("image: {repository: r/x}\n"),
		"environments/dev/.gitkeep":         nil,
		"environments/dev/README.md":        []byte("# notes"),
		"environments/staging/Bad_Name.yml": []byte(svc),
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(snap.Envs) != 3 || !snap.Envs["dev"].Automated || snap.Envs["prod"].Automated {
		t.Fatalf("envs %+v", snap.Envs)
	}
	if len(snap.Envs["dev"].Services) != 1 || len(snap.Envs["prod"].Services) != 0 || len(snap.Envs["staging"].Services) != 0 {
		t.Errorf("services dev %v prod %v staging %v", snap.Envs["dev"].Services, snap.Envs["prod"].Services, snap.Envs["staging"].Services)
	}
	_, err = BuildSnapshot("rev", map[string][]byte{
		"delivery.yaml":                   []byte(deliveryYAML),
		"environments/qa/order-svc.yaml":  []byte(svc),
		"environments/dev/order-svc.yaml": []byte("image: {repository: r/x, tag: latest}\n"),
	})
	if err == nil || !strings.Contains(err.Error(), `environment "qa" is not in delivery.yaml`) || !strings.Contains(err.Error(), "environments/dev/order-svc.yaml") {
		t.Errorf("err %v", err)
	}
}

func FuzzParseServiceFile(f *testing.F) {
	f.Add([]byte("image:\n  repository: ghcr.io/smp/order-svc\n  tag: 3.3.0\n  digest: " + digestA + "\nreplicaCount: 4\nstrategy: blueGreen\n"))
	f.Add([]byte("image: {repository: r, tag: t}\n"))
	f.Add([]byte("replicaCount: 99999999999999999999\n"))
	f.Add([]byte("blueGreen: {scaleDownDelaySeconds: 1e9}\n"))
	f.Add([]byte("image: {repository: r, tag: t, digest: " + digestA + "}\nblueGreen: {scaleDownDelaySeconds: 9223372036854775807}\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseServiceFile("svc", b)
		if err != nil {
			return
		}
		// Whatever parses is runnable: pinned by digest, bounded replicas.
		if !validDigest(s.Digest) || s.Repository == "" || s.Replicas < 0 || s.Replicas > 32 || s.ScaleDownDelay < 0 {
			t.Fatalf("accepted %+v from %q", s, b)
		}
	})
}
