package cluster

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/envfile"
)

// Strategies, as environment files spell them.
const (
	StrategyRolling   = "rolling"
	StrategyBlueGreen = "blueGreen"
)

// DefaultScaleDownDelay is Argo Rollouts' default for blue/green.
const DefaultScaleDownDelay = 30 * time.Second

// Snapshot is the desired state at one revision of the GitOps repository.
type Snapshot struct {
	Revision string
	// Envs by name.
	Envs map[string]*EnvSpec
}

// EnvSpec is one environment's desired state.
type EnvSpec struct {
	Name string
	// Automated is true when apps/<env>-apps.yaml asks Argo CD for
	// automated sync (the runtime then syncs every new commit by itself).
	Automated bool
	// Services by name, from environments/<env>/<svc>.yaml.
	Services map[string]ServiceSpec
}

// ServiceSpec is what one environment file asks for.
type ServiceSpec struct {
	Name           string
	Repository     string
	Tag            string
	Digest         string
	Replicas       int
	Strategy       string
	ScaleDownDelay time.Duration
	// AutoPromote is blueGreen.autoPromotionEnabled: promote as soon as
	// the preview is ready.
	AutoPromote bool
}

// Ref is the image reference pinned by digest.
func (s ServiceSpec) Ref() string { return s.Repository + "@" + s.Digest }

// ErrNotDeployed means an environment file names no image yet (a service
// added with gitops add-service and never deployed): nothing to run.
var ErrNotDeployed = fault.Refusedf("no image deployed yet")

// ParseServiceFile reads environments/<env>/<svc>.yaml. A tag without a
// digest is an error: the runtime only runs images pinned by digest.
// The file is decoded by envfile.Decode, the one decoder of environment
// files; the runtime relies on image, replicaCount, strategy and blueGreen,
// and any of those that does not decode is an error.
func ParseServiceFile(svc string, b []byte) (ServiceSpec, error) {
	v, err := envfile.Decode(b)
	if err := envfile.Only(err, "image", "replicaCount", "strategy", "blueGreen"); err != nil {
		return ServiceSpec{}, fmt.Errorf("parse: %w", err)
	}
	if v.Image.Tag == "" && v.Image.Digest == "" {
		return ServiceSpec{}, ErrNotDeployed
	}
	s := ServiceSpec{
		Name:       svc,
		Repository: v.Image.Repository,
		Tag:        v.Image.Tag,
		Digest:     v.Image.Digest,
		Replicas:   1,
		Strategy:   StrategyRolling,
	}
	if v.ReplicaCount != nil {
		s.Replicas = *v.ReplicaCount
	}
	var errs []error
	if s.Repository == "" {
		errs = append(errs, errors.New("image.repository is empty"))
	}
	if !validDigest(s.Digest) {
		errs = append(errs, fmt.Errorf("image.digest %q is not sha256:<64 hex>; pin the image by digest (smpctl deploy writes it)", s.Digest))
	}
	if s.Replicas < 0 || s.Replicas > 32 {
		errs = append(errs, fmt.Errorf("replicaCount %d: use 0 to 32 on a local runtime", s.Replicas))
	}
	switch {
	case v.Strategy.Map:
		errs = append(errs, fmt.Errorf("strategy: the chart's map form ({%s: ...}) is not read here: write strategy: rolling or strategy: blueGreen, and blueGreen settings under the blueGreen key", v.Strategy.Name))
	case v.Strategy.Name == "", v.Strategy.Name == StrategyRolling:
	case v.Strategy.Name == StrategyBlueGreen:
		s.Strategy = StrategyBlueGreen
	default:
		errs = append(errs, fmt.Errorf("strategy %q: use rolling or blueGreen", v.Strategy.Name))
	}
	s.AutoPromote = v.BlueGreen.AutoPromotionEnabled != nil && *v.BlueGreen.AutoPromotionEnabled
	s.ScaleDownDelay = DefaultScaleDownDelay
	if d := v.BlueGreen.ScaleDownDelaySeconds; d != nil {
		if *d < 0 || *d > 86400 {
			errs = append(errs, fmt.Errorf("blueGreen.scaleDownDelaySeconds %d: use 0 to 86400", *d))
		}
		s.ScaleDownDelay = time.Duration(*d) * time.Second
	}
	return s, errors.Join(errs...)
}

func validDigest(d string) bool {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 {
		return false
	}
	for _, c := range hex {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ParseAppsFile reports whether an apps/<env>-apps.yaml asks for automated
// sync: any Application (or ApplicationSet template) in it with
// spec.syncPolicy.automated set.
func ParseAppsFile(b []byte) (automated bool, err error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var doc struct {
			Kind string `yaml:"kind"`
			Spec struct {
				SyncPolicy struct {
					Automated *yaml.Node `yaml:"automated"`
				} `yaml:"syncPolicy"`
				Template struct {
					Spec struct {
						SyncPolicy struct {
							Automated *yaml.Node `yaml:"automated"`
						} `yaml:"syncPolicy"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return automated, nil
		}
		if err != nil {
			return false, fmt.Errorf("parse: %w", err)
		}
		switch doc.Kind {
		case "Application":
			automated = automated || isSet(doc.Spec.SyncPolicy.Automated)
		case "ApplicationSet":
			automated = automated || isSet(doc.Spec.Template.Spec.SyncPolicy.Automated)
		}
	}
}

func isSet(n *yaml.Node) bool {
	return n != nil && (n.Kind != yaml.ScalarNode || (n.Tag != "!!null" && n.Value != "false"))
}

// BuildSnapshot turns the files of one revision (path → content) into the
// desired state. Environments come from delivery.yaml when present (in
// order), else from the folders under environments/. The sync policy of an
// environment comes from apps/<env>-apps.yaml, else from delivery.yaml.
func BuildSnapshot(rev string, files map[string][]byte) (*Snapshot, error) {
	snap := &Snapshot{Revision: rev, Envs: map[string]*EnvSpec{}}
	var cfg *delivery.Config
	if b, ok := files[delivery.FileName]; ok {
		c, err := delivery.Parse(b)
		if err != nil {
			return nil, fmt.Errorf("%s at %s: %w", delivery.FileName, short(rev), err)
		}
		cfg = c
		for _, e := range c.Environments {
			snap.Envs[e.Name] = &EnvSpec{Name: e.Name, Automated: e.Sync == delivery.SyncAutomated, Services: map[string]ServiceSpec{}}
		}
	}
	var errs []error
	paths := make([]string, 0, len(files))
	for p := range files {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		dir, file := path.Split(p)
		if !strings.HasPrefix(dir, "environments/") || (!strings.HasSuffix(file, ".yaml") && !strings.HasSuffix(file, ".yml")) {
			continue
		}
		env := strings.TrimSuffix(strings.TrimPrefix(dir, "environments/"), "/")
		svc := strings.TrimSuffix(strings.TrimSuffix(file, ".yaml"), ".yml")
		if strings.Contains(env, "/") || !delivery.ValidName(env) || !delivery.ValidName(svc) {
			continue
		}
		e := snap.Envs[env]
		if e == nil {
			if cfg != nil {
				errs = append(errs, fmt.Errorf("%s: environment %q is not in %s", p, env, delivery.FileName))
				continue
			}
			e = &EnvSpec{Name: env, Services: map[string]ServiceSpec{}}
			snap.Envs[env] = e
		}
		s, err := ParseServiceFile(svc, files[p])
		if errors.Is(err, ErrNotDeployed) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s at %s: %w", p, short(rev), err))
			continue
		}
		e.Services[svc] = s
	}
	for name, e := range snap.Envs {
		b, ok := files["apps/"+name+"-apps.yaml"]
		if !ok {
			continue
		}
		auto, err := ParseAppsFile(b)
		if err != nil {
			errs = append(errs, fmt.Errorf("apps/%s-apps.yaml at %s: %w", name, short(rev), err))
			continue
		}
		e.Automated = auto
	}
	return snap, errors.Join(errs...)
}

func short(rev string) string {
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}
