package imagepolicy

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// Config is the policy. The zero value is not useful: start from Default.
type Config struct {
	// Registries are the allowed prefixes of deployed images (ghcr.io/smp/).
	Registries []string `json:"registries"`
	// Bases are the allowed prefixes of runtime base images.
	Bases []string `json:"bases"`
	// SignedEnvironments must run signed images (prod).
	SignedEnvironments []string `json:"signedEnvironments"`
}

// Default is the seed's policy: ghcr.io/smp, distroless or alpine, prod signed.
func Default() Config {
	return Config{
		Registries: []string{"ghcr.io/smp/"},
		Bases: []string{
			"gcr.io/distroless/",
			"alpine", "docker.io/library/alpine", "index.docker.io/library/alpine",
		},
		SignedEnvironments: []string{"prod"},
	}
}

// Finding is one violation.
type Finding struct {
	Rule    string `json:"rule"`
	Where   string `json:"where"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: [%s] %s — %s", f.Where, f.Rule, f.Message, f.Fix)
}

// NeedsSignature reports whether images deployed to env must be signed.
func (c Config) NeedsSignature(env string) bool {
	for _, e := range c.SignedEnvironments {
		if e == env {
			return true
		}
	}
	return false
}

// splitRef parses a reference loosely (policy reads what others wrote, so
// it reports problems instead of refusing to look): repository, tag, digest.
func splitRef(s string) (repo, tag, digest string, err error) {
	ref, err := name.ParseReference(s, name.WeakValidation)
	if err != nil {
		return "", "", "", err
	}
	switch r := ref.(type) {
	case name.Digest:
		digest = r.DigestStr()
		// name.Digest drops a tag written before the digest; read it back.
		if base, _, ok := strings.Cut(s, "@"); ok {
			if i := strings.LastIndexByte(base, ':'); i > strings.LastIndexByte(base, '/') {
				tag = base[i+1:]
			}
		}
	case name.Tag:
		tag = r.TagStr()
		if !strings.Contains(s[strings.LastIndexByte(s, '/')+1:], ":") {
			tag = "" // no tag written: "latest" by default
		}
	}
	return ref.Context().Name(), tag, digest, nil
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// CheckImage checks an image reference that is about to be deployed.
func CheckImage(ref string, c Config) []Finding {
	where := ref
	if strings.TrimSpace(ref) != ref || strings.ContainsAny(ref, " \t") {
		return []Finding{{Rule: "reference", Where: where, Message: "white space in the reference", Fix: "remove it"}}
	}
	repo, tag, digest, err := splitRef(ref)
	if err != nil {
		return []Finding{{Rule: "reference", Where: where, Message: err.Error(), Fix: "write REPO:TAG@sha256:<digest> in lower case"}}
	}
	var fs []Finding
	if !hasPrefix(repo+"/", c.Registries) && !hasPrefix(repo, c.Registries) {
		fs = append(fs, Finding{Rule: "registry-allowed", Where: where, Message: fmt.Sprintf("%s is not in an allowed registry (%s)", repo, strings.Join(c.Registries, ", ")), Fix: "push the image to an allowed registry with smpctl build --push"})
	}
	if tag == "latest" || tag == "main" || (tag == "" && digest == "") {
		t := tag
		if t == "" {
			t = "latest (implicit)"
		}
		fs = append(fs, Finding{Rule: "no-latest", Where: where, Message: "mutable tag " + t, Fix: "use the sha-<short> or release tag with its digest"})
	}
	if digest == "" {
		fs = append(fs, Finding{Rule: "digest-pinned", Where: where, Message: "no digest: the tag could move", Fix: "append @sha256:… (smpctl image resolve prints it)"})
	}
	return fs
}

// CheckDockerfile checks a Dockerfile's stages: every external base pinned
// by digest and never latest, the runtime (last) stage on an allowed base
// and running as a non-root user.
func CheckDockerfile(path string, b []byte, c Config) ([]Finding, error) {
	ins, err := ParseDockerfile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	stages, err := Stages(ins)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	names := map[string]bool{}
	var fs []Finding
	for i, s := range stages {
		where := fmt.Sprintf("%s:%d", path, s.Line)
		final := i == len(stages)-1
		switch {
		case names[strings.ToLower(s.Base)]:
			// FROM an earlier stage: checked there.
		case s.Base == "scratch":
			if final {
				fs = append(fs, Finding{Rule: "base-allowed", Where: where, Message: "runtime base scratch has no CA certificates and no non-root user", Fix: "use gcr.io/distroless/static-debian12:nonroot@sha256:…"})
			}
		default:
			fs = append(fs, checkBase(where, s.Base, final, c)...)
		}
		for _, cp := range s.Copies {
			for _, f := range strings.Fields(cp.Args) {
				from, ok := strings.CutPrefix(f, "--from=")
				if !ok || names[strings.ToLower(from)] || !strings.ContainsAny(from, "/:") {
					continue
				}
				if _, tag, digest, err := splitRef(from); err == nil && (tag == "latest" || digest == "") {
					fs = append(fs, Finding{Rule: "base-pinned", Where: fmt.Sprintf("%s:%d", path, cp.Line), Message: cp.Cmd + " --from=" + from + " is not pinned by digest", Fix: "append @sha256:<digest>"})
				}
			}
		}
		if s.Name != "" {
			names[s.Name] = true
		}
		if final {
			fs = append(fs, checkUser(path, s)...)
		}
	}
	return fs, nil
}

func checkBase(where, base string, final bool, c Config) []Finding {
	var fs []Finding
	if strings.Contains(base, "$") {
		return []Finding{{Rule: "base-pinned", Where: where, Message: "base " + base + " depends on a build argument without a default", Fix: "give the ARG a pinned default"}}
	}
	repo, tag, digest, err := splitRef(base)
	if err != nil {
		return []Finding{{Rule: "base-allowed", Where: where, Message: "unreadable base " + base + ": " + err.Error(), Fix: "write REPO:TAG@sha256:<digest>"}}
	}
	if tag == "latest" || (tag == "" && digest == "") {
		fs = append(fs, Finding{Rule: "no-latest", Where: where, Message: "base " + base + " is latest", Fix: "name a version tag and pin its digest"})
	}
	if digest == "" {
		fs = append(fs, Finding{Rule: "base-pinned", Where: where, Message: "base " + base + " is not pinned by digest", Fix: "append @sha256:<digest> (crane digest " + base + ")"})
	}
	if final {
		short := strings.TrimPrefix(strings.TrimPrefix(repo, "index.docker.io/library/"), "docker.io/library/")
		if !hasPrefix(repo, c.Bases) && !hasPrefix(short, c.Bases) && !hasPrefix(base, c.Bases) {
			fs = append(fs, Finding{Rule: "base-allowed", Where: where, Message: "runtime base " + repo + " is neither distroless nor alpine", Fix: "use gcr.io/distroless/static-debian12:nonroot@sha256:… or alpine:3.x@sha256:…"})
		}
	}
	return fs
}

// checkUser: the runtime stage must name a non-root user. Distroless
// :nonroot images set one in their config, so a nonroot base is accepted.
func checkUser(path string, s Stage) []Finding {
	user := strings.ToLower(strings.TrimSpace(s.User))
	u, _, _ := strings.Cut(user, ":")
	where := fmt.Sprintf("%s:%d", path, s.UserLine)
	switch {
	case user == "":
		if strings.Contains(s.Base, ":nonroot") || strings.Contains(s.Base, "-nonroot") {
			return nil
		}
		return []Finding{{Rule: "user-nonroot", Where: fmt.Sprintf("%s:%d", path, s.Line), Message: "the runtime stage runs as root (no USER)", Fix: "add USER nonroot:nonroot (65532:65532)"}}
	case u == "root" || u == "0":
		return []Finding{{Rule: "user-nonroot", Where: where, Message: "USER " + s.User + " is root", Fix: "use USER nonroot:nonroot (65532:65532)"}}
	}
	return nil
}
