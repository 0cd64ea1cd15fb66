package policy_test

import (
	"os"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/smp/delivery/internal/testkit/kubeschema"
	"github.com/smp/delivery/internal/testkit/testctx"
)

const policyFile = "images.yaml"

func TestPoliciesMatchKyvernosCRD(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(policyFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := kubeschema.Validate(testctx.New(t), data); err != nil {
		t.Fatal(err)
	}
}

// The fields the tests read; the CRD schema checks the rest.
type clusterPolicy struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Rules []struct {
			Name  string `json:"name"`
			Match struct {
				Any []struct {
					Resources struct {
						Kinds      []string `json:"kinds"`
						Namespaces []string `json:"namespaces"`
					} `json:"resources"`
				} `json:"any"`
			} `json:"match"`
			Validate *struct {
				FailureAction string         `json:"failureAction"`
				Pattern       map[string]any `json:"pattern"`
			} `json:"validate"`
			VerifyImages []struct {
				ImageReferences []string `json:"imageReferences"`
				FailureAction   string   `json:"failureAction"`
				Required        *bool    `json:"required"`
				VerifyDigest    *bool    `json:"verifyDigest"`
				Attestors       []struct {
					Entries []struct {
						Keyless *struct {
							Issuer               string            `json:"issuer"`
							SubjectRegExp        string            `json:"subjectRegExp"`
							AdditionalExtensions map[string]string `json:"additionalExtensions"`
						} `json:"keyless"`
					} `json:"entries"`
				} `json:"attestors"`
			} `json:"verifyImages"`
		} `json:"rules"`
	} `json:"spec"`
}

func readPolicies(t *testing.T) map[string]clusterPolicy {
	t.Helper()
	data, err := os.ReadFile(policyFile)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]clusterPolicy{}
	for _, doc := range strings.Split(string(data), "\n---\n") {
		var p clusterPolicy
		if err := yaml.Unmarshal([]byte(doc), &p); err != nil {
			t.Fatal(err)
		}
		if p.Kind != "ClusterPolicy" {
			t.Fatalf("unexpected kind %q", p.Kind)
		}
		out[p.Metadata.Name] = p
	}
	return out
}

// imagePatterns returns the image pattern of every container list a validate pattern
// covers, keyed by list ("containers", "=(initContainers)", ...).
func imagePatterns(t *testing.T, pattern map[string]any) map[string]string {
	t.Helper()
	spec, ok := pattern["spec"].(map[string]any)
	if !ok {
		t.Fatal("pattern has no spec")
	}
	out := map[string]string{}
	for k, v := range spec {
		list, ok := v.([]any)
		if !ok || len(list) != 1 {
			t.Fatalf("pattern spec.%s: want a one-element list", k)
		}
		img, _ := list[0].(map[string]any)["image"].(string)
		out[k] = img
	}
	return out
}

func TestEachSeedImageRuleIsEnforcedWhereTheSeedWantsIt(t *testing.T) {
	t.Parallel()
	ps := readPolicies(t)
	cases := []struct {
		policy, rule string
		namespaces   []string
		image        string
	}{
		{"smp-image-registry", "ghcr-only", []string{"smp-*"}, "ghcr.io/*"},
		{"smp-image-no-latest", "require-tag-or-digest", []string{"smp-*"}, "*:*"},
		{"smp-image-no-latest", "no-latest", []string{"smp-*"}, "!*:latest"},
		{"smp-image-digest", "require-digest", []string{"smp-staging", "smp-prod"}, "*@sha256:?*"},
	}
	for _, c := range cases {
		p, ok := ps[c.policy]
		if !ok {
			t.Errorf("no ClusterPolicy %s", c.policy)
			continue
		}
		found := false
		for _, r := range p.Spec.Rules {
			if r.Name != c.rule {
				continue
			}
			found = true
			if len(r.Match.Any) != 1 || !slices.Equal(r.Match.Any[0].Resources.Kinds, []string{"Pod"}) {
				t.Errorf("%s/%s: must match Pods (auto-gen covers their controllers)", c.policy, c.rule)
				continue
			}
			if got := r.Match.Any[0].Resources.Namespaces; !slices.Equal(got, c.namespaces) {
				t.Errorf("%s/%s: namespaces %v, want %v", c.policy, c.rule, got, c.namespaces)
			}
			if r.Validate == nil || r.Validate.FailureAction != "Enforce" {
				t.Errorf("%s/%s: must validate with failureAction Enforce (Audit lets the pod in)", c.policy, c.rule)
				continue
			}
			pats := imagePatterns(t, r.Validate.Pattern)
			// Every place a container can hide: containers, init and ephemeral containers.
			for _, list := range []string{"containers", "=(initContainers)", "=(ephemeralContainers)"} {
				if pats[list] != c.image {
					t.Errorf("%s/%s: spec.%s image pattern %q, want %q", c.policy, c.rule, list, pats[list], c.image)
				}
			}
		}
		if !found {
			t.Errorf("%s: no rule %s", c.policy, c.rule)
		}
	}
}

func TestProdVerifiesKeylessSignaturesFromReleaseTags(t *testing.T) {
	t.Parallel()
	p, ok := readPolicies(t)["smp-image-signed-prod"]
	if !ok || len(p.Spec.Rules) != 1 {
		t.Fatal("want ClusterPolicy smp-image-signed-prod with one rule")
	}
	r := p.Spec.Rules[0]
	if ns := r.Match.Any[0].Resources.Namespaces; !slices.Equal(ns, []string{"smp-prod"}) {
		t.Errorf("signature verification applies to %v, want smp-prod only", ns)
	}
	if len(r.VerifyImages) != 1 {
		t.Fatalf("want one verifyImages entry, got %d", len(r.VerifyImages))
	}
	v := r.VerifyImages[0]
	if !slices.Equal(v.ImageReferences, []string{"ghcr.io/smp/*"}) || v.FailureAction != "Enforce" {
		t.Errorf("verifyImages: references %v, failureAction %q", v.ImageReferences, v.FailureAction)
	}
	if v.Required == nil || !*v.Required || v.VerifyDigest == nil || !*v.VerifyDigest {
		t.Error("verifyImages must be required and verify the digest")
	}
	if len(v.Attestors) != 1 || len(v.Attestors[0].Entries) != 1 || v.Attestors[0].Entries[0].Keyless == nil {
		t.Fatal("want one keyless attestor")
	}
	k := v.Attestors[0].Entries[0].Keyless
	if k.Issuer != "https://token.actions.githubusercontent.com" {
		t.Errorf("issuer %q: signatures must come from GitHub Actions OIDC", k.Issuer)
	}
	// The subject is the workflow identity: an smp repository's workflow on a protected
	// ref. Images are built and signed once on main, and release tags may sign again.
	for subject, want := range map[string]bool{
		"https://github.com/smp/order-svc/.github/workflows/cd.yml@refs/heads/main":           true,
		"https://github.com/smp/order-svc/.github/workflows/cd.yml@refs/tags/v3.3.0":          true,
		"https://github.com/smp/order-svc/.github/workflows/cd.yml@refs/tags/v3.3.0-rc.1":     true,
		"https://github.com/smp/order-svc/.github/workflows/cd.yml@refs/heads/feat/x":         false,
		"https://github.com/smp/order-svc/.github/workflows/cd.yml@refs/heads/main-hack":      false,
		"https://github.com/smp/order-svc/.github/workflows/cd.yml@refs/tags/v3.3.0-rollback": false,
		"https://github.com/evil/order-svc/.github/workflows/cd.yml@refs/tags/v3.3.0":         false,
		// The reusable CD signs as itself, at the release a service pins.
		"https://github.com/smp/delivery/.github/workflows/cd.yml@refs/tags/v0.1.0":  true,
		"https://github.com/smp/delivery/.github/workflows/cd.yml@refs/heads/feat/x": false,
	} {
		if got := matchRegexp(t, k.SubjectRegExp, subject); got != want {
			t.Errorf("subject %s: accepted=%v, want %v", subject, got, want)
		}
	}
	// Any organisation may call smp/delivery's reusable cd.yml and get that
	// subject: the caller's repository and ref (Fulcio's GitHub extensions,
	// matched by Kyverno with wildcards) must be an smp repository's main.
	if got := k.AdditionalExtensions["githubWorkflowRepository"]; got != "smp/*" {
		t.Errorf("githubWorkflowRepository %q, want smp/* (the calling repository is in the smp organisation)", got)
	}
	if got := k.AdditionalExtensions["githubWorkflowRef"]; got != "refs/heads/main" {
		t.Errorf("githubWorkflowRef %q, want refs/heads/main (images are built and signed once, on main)", got)
	}
}
