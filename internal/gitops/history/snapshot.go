package history

import (
	"context"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitcmd"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/envfile"
	"github.com/smp/delivery/internal/gitops/statefile"
)

// Key names one service in one environment.
type Key struct {
	Env     string
	Service string
}

// EnvFile is what smpctl reads from environments/<env>/<service>.yaml.
type EnvFile struct {
	Repository   string `json:"repository,omitempty"`
	Tag          string `json:"tag,omitempty"`
	Digest       string `json:"digest,omitempty"`
	ChartVersion string `json:"chartVersion,omitempty"`
	Strategy     string `json:"strategy,omitempty"`
	// Err says why the file could not be read as YAML.
	Err string `json:"error,omitempty"`
}

// Hold is state/holds/<env>/<service>.yaml (package statefile owns the type).
type Hold = statefile.Hold

// Snapshot is the repository's state at one commit.
type Snapshot struct {
	Commit string
	Config *delivery.Config
	Files  map[Key]EnvFile
	Holds  map[Key]Hold
}

// Snapshot reads delivery.yaml, every environment file and every hold at
// HEAD with three git processes, whatever the number of files.
func (r *Repo) Snapshot(ctx context.Context) (*Snapshot, error) {
	return r.snapshot(ctx, true)
}

// snapshot reads HEAD; without contents it lists the environment files
// (their keys, with empty EnvFiles) and reads only delivery.yaml and the
// holds — enough to check names, at a fraction of the cost.
func (r *Repo) snapshot(ctx context.Context, contents bool) (*Snapshot, error) {
	head, err := r.head(ctx)
	if err != nil {
		return nil, err
	}
	return r.snapshotAt(ctx, head, contents)
}

// head is the commit HEAD names.
func (r *Repo) head(ctx context.Context) (string, error) {
	head, err := r.git.Output(ctx, "rev-parse", "--verify", "HEAD^{commit}")
	if err != nil {
		return "", fmt.Errorf("read HEAD of %s: %w", r.Source, err)
	}
	return head, nil
}

func (r *Repo) snapshotAt(ctx context.Context, head string, contents bool) (*Snapshot, error) {
	tree, err := r.git.Run(ctx, "ls-tree", "-r", "-z", "--full-tree", head, "--", "environments", "state/holds")
	if err != nil {
		return nil, fmt.Errorf("list files of %s: %w", r.Source, err)
	}
	type entry struct {
		key  Key
		hold bool
	}
	var (
		entries  []entry
		keysOnly []Key
		names    []string
	)
	names = append(names, head+":delivery.yaml")
	for p, obj := range gitcmd.TreeBlobs(tree) {
		k, hold, ok := keyOf(p)
		if !ok {
			continue
		}
		if !contents && !hold {
			keysOnly = append(keysOnly, k)
			continue
		}
		entries = append(entries, entry{k, hold})
		names = append(names, obj)
	}
	blobs, err := r.git.CatFiles(ctx, names)
	if err != nil {
		return nil, fmt.Errorf("read files of %s: %w", r.Source, err)
	}
	cfg, err := delivery.Parse(blobs[0])
	if err != nil {
		return nil, fault.Invalidf("%s: delivery.yaml at %s: %v: fix it with a commit", r.Source, short(head), err)
	}
	s := &Snapshot{Commit: head, Config: cfg, Files: map[Key]EnvFile{}, Holds: map[Key]Hold{}}
	for _, k := range keysOnly {
		s.Files[k] = EnvFile{}
	}
	// Decoding ~600 YAML files is most of a status' CPU: spread it over the
	// cores. Each worker writes only its own slots; the maps are filled after.
	files := make([]EnvFile, len(entries))
	holds := make([]Hold, len(entries))
	var wg sync.WaitGroup
	next := make(chan int, len(entries))
	for i := range entries {
		next <- i
	}
	close(next)
	for range min(runtime.GOMAXPROCS(0), len(entries)) {
		wg.Go(func() {
			for i := range next {
				b := blobs[i+1]
				if entries[i].hold {
					// A hold that does not parse is still a hold: its
					// presence is what counts.
					holds[i], _ = statefile.DecodeHold(b)
					continue
				}
				files[i] = parseEnvFile(b)
			}
		})
	}
	wg.Wait()
	for i, e := range entries {
		if e.hold {
			s.Holds[e.key] = holds[i]
		} else {
			s.Files[e.key] = files[i]
		}
	}
	return s, nil
}

// keyOf maps environments/<env>/<svc>.yaml and state/holds/<env>/<svc>.yaml
// to their key; other paths (.gitkeep, READMEs, invalid names) are skipped.
func keyOf(p string) (Key, bool, bool) {
	var hold bool
	switch {
	case strings.HasPrefix(p, "environments/"):
		p = strings.TrimPrefix(p, "environments/")
	case strings.HasPrefix(p, "state/holds/"):
		p, hold = strings.TrimPrefix(p, "state/holds/"), true
	default:
		return Key{}, false, false
	}
	env, file, ok := strings.Cut(p, "/")
	if !ok || !strings.HasSuffix(file, ".yaml") {
		return Key{}, false, false
	}
	svc := strings.TrimSuffix(file, ".yaml")
	if !delivery.ValidName(env) || !delivery.ValidName(svc) {
		return Key{}, false, false
	}
	return Key{env, svc}, hold, true
}

// parseEnvFile reads the keys smpctl owns, through envfile.Decode (the one
// decoder of environment files); the rest of the values file is the team's:
// only a file that is not YAML, or an image or chart block of the wrong
// type, is an error. The strategy is shown as written (its string, or the
// key of the chart's map form), rolling when absent or not a string.
func parseEnvFile(b []byte) EnvFile {
	v, err := envfile.Decode(b)
	if err := envfile.Only(err, "image", "chart"); err != nil {
		return EnvFile{Err: err.Error()}
	}
	f := EnvFile{
		Repository:   v.Image.Repository,
		Tag:          v.Image.Tag,
		Digest:       v.Image.Digest,
		ChartVersion: v.ChartVersion,
		Strategy:     "rolling",
	}
	if v.Strategy.Name != "" {
		f.Strategy = v.Strategy.Name
	}
	return f
}

// Envs lists the environments: delivery.yaml's, in promotion order, then
// any other folder found under environments/, sorted.
func (s *Snapshot) Envs() []string {
	envs := s.Config.EnvNames()
	known := map[string]bool{}
	for _, e := range envs {
		known[e] = true
	}
	var extra []string
	for k := range s.Files {
		if !known[k.Env] {
			known[k.Env] = true
			extra = append(extra, k.Env)
		}
	}
	sort.Strings(extra)
	return append(envs, extra...)
}

// Services lists delivery.yaml's services and every service with a file,
// sorted by name.
func (s *Snapshot) Services() []string {
	seen := map[string]bool{}
	var out []string
	for _, svc := range s.Config.Services {
		if !seen[svc.Name] {
			seen[svc.Name] = true
			out = append(out, svc.Name)
		}
	}
	for k := range s.Files {
		if !seen[k.Service] {
			seen[k.Service] = true
			out = append(out, k.Service)
		}
	}
	sort.Strings(out)
	return out
}

// CheckEnv returns a bad-input error unless env is a known environment.
func (s *Snapshot) CheckEnv(env string) error {
	if err := delivery.CheckName("environment", env); err != nil {
		return fault.Invalidf("%v", err)
	}
	for _, e := range s.Envs() {
		if e == env {
			return nil
		}
	}
	return fault.Invalidf("unknown environment %q: use one of %s (delivery.yaml at %s)", env, strings.Join(s.Envs(), ", "), short(s.Commit))
}

// CheckService returns a bad-input error unless svc is a known service.
func (s *Snapshot) CheckService(svc string) error {
	if err := delivery.CheckName("service", svc); err != nil {
		return fault.Invalidf("%v", err)
	}
	for _, x := range s.Services() {
		if x == svc {
			return nil
		}
	}
	return fault.Invalidf("unknown service %q: it is neither in delivery.yaml nor has a file under environments/ (add it with smpctl gitops add-service %s)", svc, svc)
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

// Head is the commit HEAD names: what a reader polls to learn that the
// repository changed, for the price of one git process.
func (r *Repo) Head(ctx context.Context) (string, error) { return r.head(ctx) }
