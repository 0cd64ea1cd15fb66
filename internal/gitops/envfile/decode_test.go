package envfile

import (
	"errors"
	"strings"
	"testing"
)

func TestDecodeReadsEveryKeyOnItsOwn(t *testing.T) {
	t.Parallel()
	in := `# order-svc in prod
base: &img {repository: ghcr.io/smp/order-svc, tag: "3.3.0"}
image:
  <<: *img
  digest: sha256:1
chart: {version: 0.2.0}
replicaCount: 4
strategy: blueGreen
blueGreen: {autoPromotionEnabled: false, scaleDownDelaySeconds: 300}
resources: {limits: {cpu: 1}}
`
	f, err := Decode([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if f.Image != (Image{"ghcr.io/smp/order-svc", "3.3.0", "sha256:1"}) || f.ChartVersion != "0.2.0" {
		t.Errorf("owned keys: %+v", f)
	}
	if f.ReplicaCount == nil || *f.ReplicaCount != 4 || f.Strategy != (Strategy{Name: "blueGreen"}) {
		t.Errorf("runtime keys: %+v", f)
	}
	if f.BlueGreen.AutoPromotionEnabled == nil || *f.BlueGreen.AutoPromotionEnabled || *f.BlueGreen.ScaleDownDelaySeconds != 300 {
		t.Errorf("blueGreen: %+v", f.BlueGreen)
	}
}

func TestDecodeReportsEachKeyOfTheWrongType(t *testing.T) {
	t.Parallel()
	f, err := Decode([]byte("image: ghcr.io/x:1\nchart: {version: 0.1.0}\nreplicaCount: three\n"))
	var fe FieldErrors
	if !errors.As(err, &fe) || len(fe) != 2 || fe[0].Key != "image" || fe[1].Key != "replicaCount" {
		t.Fatalf("err = %v", err)
	}
	if f.ChartVersion != "0.1.0" {
		t.Errorf("the keys that decode are still filled in: %+v", f)
	}
	if err := Only(err, "chart"); err != nil {
		t.Errorf("Only(chart) = %v, want nil", err)
	}
	if err := Only(err, "image", "chart"); err == nil || !strings.HasPrefix(err.Error(), "image: ") {
		t.Errorf("Only(image, chart) = %v", err)
	}
}

func TestDecodeRefusesWhatIsNotAMapping(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"image: [\n", "- a\n", "just text\n", "a: 1\na: 2\n"} {
		if _, err := Decode([]byte(in)); !errors.Is(err, ErrNotYAML) || Only(err, "image") == nil {
			t.Errorf("Decode(%q) = %v, want ErrNotYAML whatever the keys", in, err)
		}
	}
	for _, in := range []string{"", "# only a comment\n", "~\n"} {
		if f, err := Decode([]byte(in)); err != nil || f != (File{}) {
			t.Errorf("Decode(%q) = %+v, %v; want an empty file", in, f, err)
		}
	}
}
