package layout

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/smp/delivery/internal/gitcmd"
	"github.com/smp/delivery/internal/gitops/delivery"

	"github.com/smp/delivery/internal/fault"
)

// AddOptions configure AddService.
type AddOptions struct {
	// Critical services run blue/green in the environment named prod.
	Critical bool
	// Image is the image repository without tag or digest; default
	// ghcr.io/smp/<service>.
	Image string
	// ChartVersion is the Helm chart version pinned in every environment
	// file; default 0.1.0.
	ChartVersion string
	// Repository is the GitHub repository (OWNER/NAME) whose CD deploys the
	// service, recorded as services[].repository (format version 4): where
	// an environment has requireOIDC, only that repository's proven runs
	// write the service. Empty records none.
	Repository string
	// Identity overrides delivery.yaml's commit identity.
	Identity Identity
}

// AddResult says what AddService changed; Files is empty when the service
// was already there.
type AddResult struct {
	Service string   `json:"service"`
	Files   []string `json:"files"`
	Commit  string   `json:"commit,omitempty"`
	// Warnings name what the user still has to do, e.g. an environment
	// with no apps/<env>-apps.yaml, which Argo CD therefore never deploys.
	Warnings []string `json:"warnings,omitempty"`
}

// DefaultChartVersion is pinned in new environment files.
const DefaultChartVersion = "0.1.0"

var (
	imageRE   = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)+$`)
	versionRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)
)

// AddService writes environments/<env>/<name>.yaml for every environment of
// delivery.yaml that lacks one and appends the service to delivery.yaml's
// services. Existing files are never overwritten. When dir is a git work
// tree, the change is committed as "gitops: add <name>".
func AddService(ctx context.Context, dir, name string, o AddOptions) (res AddResult, err error) {
	res = AddResult{Service: name}
	if err := delivery.CheckName("service name", name); err != nil {
		return res, fault.Invalidf("%v", err)
	}
	if o.Image == "" {
		o.Image = "ghcr.io/smp/" + name
	}
	if !imageRE.MatchString(o.Image) {
		return res, fault.Inputf("Image", "invalid image repository %q: give an image repository without tag or digest, e.g. ghcr.io/smp/%s", o.Image, name)
	}
	if o.ChartVersion == "" {
		o.ChartVersion = DefaultChartVersion
	}
	if !versionRE.MatchString(o.ChartVersion) {
		return res, fault.Invalidf("invalid chart version %q: give a SemVer chart version such as 0.1.0", o.ChartVersion)
	}
	// Every read and write goes through a root at dir: a symbolic link
	// committed in the GitOps repository (delivery.yaml, an environment's
	// folder) that leads out of it is refused, never followed — add-service
	// runs on a checkout, and would otherwise write where the link points.
	root, err := os.OpenRoot(dir)
	if err != nil {
		return res, fault.Invalidf("open the GitOps work tree %s: %w", dir, err)
	}
	defer root.Close()
	cfgPath := filepath.Join(dir, delivery.FileName)
	src, err := root.ReadFile(delivery.FileName)
	if errors.Is(err, fs.ErrNotExist) {
		return res, fault.Invalidf("%s is not a gitops repository (no %s): run smpctl gitops init %s first, or give the GitOps work tree", dir, delivery.FileName, dir)
	}
	if err != nil {
		return res, fault.Refusedf("read %s: %w (a link out of the work tree is not followed)", cfgPath, err)
	}
	cfg, err := delivery.Parse(src)
	if err != nil {
		return res, fault.Invalidf("%s: %v", cfgPath, err)
	}
	if err := cfg.CheckWritable(); err != nil {
		return res, fault.Invalidf("%s: %w", dir, err)
	}

	writes := map[string][]byte{}
	for _, env := range cfg.Environments {
		if _, err := root.Stat(filepath.Join(AppsDir, env.Name+"-apps.yaml")); err != nil {
			res.Warnings = append(res.Warnings, fmt.Sprintf("%s/%s-apps.yaml does not exist: Argo CD does not deploy %s until it does (copy apps/dev-apps.yaml and rename dev)", AppsDir, env.Name, env.Name))
		}
		rel := EnvFile(env.Name, name)
		if _, err := root.Lstat(filepath.FromSlash(rel)); err == nil {
			continue // never overwritten (nor a link followed)
		}
		writes[rel] = EnvFileContent(env.Name, name, o)
	}
	if _, listed := cfg.Service(name); !listed {
		out, err := delivery.AddService(src, delivery.Service{Name: name, Image: o.Image, Critical: o.Critical, Repository: o.Repository})
		if err != nil {
			return res, fmt.Errorf("%s: %w", cfgPath, err)
		}
		writes[delivery.FileName] = out
	}
	if len(writes) == 0 {
		return res, nil
	}
	// On a failure past this point, put every file back as it was.
	written := map[string][]byte{} // rel → previous content (nil: new file)
	defer func() {
		if err == nil {
			return
		}
		for rel, prev := range written {
			p := filepath.FromSlash(rel)
			if prev == nil {
				_ = root.Remove(p)
			} else {
				_ = root.WriteFile(p, prev, 0o644)
			}
		}
		res.Files = nil
	}()
	for _, rel := range sortedKeys(writes) {
		p := filepath.FromSlash(rel)
		if err := root.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return res, fault.Refusedf("create %s in %s: %w (a link out of the work tree is not followed)", filepath.Dir(p), dir, err)
		}
		if rel == delivery.FileName {
			written[rel] = src
		} else {
			written[rel] = nil
		}
		if err := root.WriteFile(p, writes[rel], 0o644); err != nil {
			return res, fault.Refusedf("write %s in %s: %w (a link out of the work tree is not followed)", rel, dir, err)
		}
		res.Files = append(res.Files, rel)
	}
	if !isWorkTree(ctx, dir) {
		return res, nil
	}
	g := gitcmd.Runner{Dir: dir}
	if _, err := g.Run(ctx, append([]string{"add", "--"}, res.Files...)...); err != nil {
		return res, fmt.Errorf("stage %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			// Unstage what was staged, so the index is as it was.
			_, _ = g.Run(ctx, append([]string{"reset", "--quiet", "--"}, res.Files...)...)
		}
	}()
	trailers := []string{"Action: add-service", "Service: " + name}
	sha, err := commit(ctx, g, identity(cfg, o.Identity), "gitops: add "+name, trailers, res.Files...)
	if err != nil {
		return res, err
	}
	res.Commit = sha
	return res, nil
}

// EnvFileContent is a new service's environment file: a Helm values file in
// which smpctl owns only image.* and chart.version. The image has no tag or
// digest until the first deploy writes them.
func EnvFileContent(env, name string, o AddOptions) []byte {
	replicas := map[string]int{"dev": 1, "staging": 2, "prod": 3}[env]
	if replicas == 0 {
		replicas = 1
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# %s in %s: Helm values overrides for this environment.\n", name, env)
	fmt.Fprintf(&b, "# smpctl writes only image.* (deploy, promote, rollback) and chart.version;\n")
	fmt.Fprintf(&b, "# everything else belongs to the service's team and is kept as written.\n")
	fmt.Fprintf(&b, "# The image tag and digest appear with the first deploy.\n")
	fmt.Fprintf(&b, "image:\n  repository: %s\n", o.Image)
	fmt.Fprintf(&b, "chart:\n  version: %s # the chart version pinned in %s, promoted with the image\n", o.ChartVersion, env)
	fmt.Fprintf(&b, "replicaCount: %d\n", replicas)
	if o.Critical && env == "prod" {
		b.WriteString("# Critical service: Argo Rollouts blue/green, promoted by hand after the\n")
		b.WriteString("# preview passes the smoke tests.\n")
		b.WriteString("strategy: blueGreen\nblueGreen:\n  autoPromotionEnabled: false\n  scaleDownDelaySeconds: 300\n")
	} else {
		b.WriteString("strategy: rolling\n")
	}
	return b.Bytes()
}
