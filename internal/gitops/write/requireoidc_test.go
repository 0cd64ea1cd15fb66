package write_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/fault"
	"github.com/smp/delivery/internal/gitcmd/gitcmdtest"
	"github.com/smp/delivery/internal/gitops/delivery"
	"github.com/smp/delivery/internal/gitops/gitopstest"
	"github.com/smp/delivery/internal/gitops/write"
)

// TestRequireOIDCRefusesATypedRun: in an environment with requireOIDC, a
// write that records a CI run (--run: what lets a deploy through unsigned)
// must have proven it (smpctl --oidc sets Proven); a typed one is refused
// with exit 1 and nothing is written. Elsewhere, and for a person's write
// (no --run), nothing changes.
func TestRequireOIDCRefusesATypedRun(t *testing.T) {
	t.Parallel()
	bare := gitopstest.NewRemote(t, map[string]string{
		"delivery.yaml": "version: 4\nenvironments:\n  - {name: dev, sync: automated, trigger: main, approval: none, requireOIDC: true}\n" +
			"  - {name: qa, sync: manual, trigger: manual, approval: none}\nservices:\n  - name: order-svc\n    image: ghcr.io/smp/order-svc\n    repository: smp/order-svc\n",
		"environments/dev/order-svc.yaml": "image:\n  repository: ghcr.io/smp/order-svc\n  tag: 3.1.0\n  digest: sha256:" + strings.Repeat("1", 64) + "\n",
		"environments/qa/order-svc.yaml":  "image:\n  repository: ghcr.io/smp/order-svc\n  tag: 3.1.0\n  digest: sha256:" + strings.Repeat("1", 64) + "\n",
	})
	ctx := context.Background()
	repo := repoFor(t, bare)
	run := "https://github.com/smp/order-svc/actions/runs/7"
	common := func(proven bool) write.Common {
		c := write.Common{By: "ci", Run: run, Now: time.Now()}
		if proven {
			c.Proven = &write.ProvenRun{Repository: "smp/order-svc", Environment: "dev", JobWorkflow: "smp/delivery/.github/workflows/cd.yml@refs/tags/v0.2.0"}
		}
		return c
	}
	head := func() string { return gitcmdtest.Git(t, bare, "rev-parse", "main") }
	before := head()

	deploy := func(env string, c write.Common, tag string, d byte) error {
		_, err := write.Deploy(ctx, repo, write.DeployRequest{Common: c, Env: env, Service: "order-svc", Image: img(t, "order-svc", tag, d)})
		return err
	}
	err := deploy("dev", common(false), "3.2.0", '2')
	if !errors.Is(err, write.ErrRunNotProven) || !fault.IsRefused(err) ||
		!strings.Contains(err.Error(), "dev requires CI writes to prove their run (requireOIDC in delivery.yaml), and this deploy gives --run "+run+" without proof: run it from the CD with --oidc") {
		t.Fatalf("a typed --run in dev: %v, want ErrRunNotProven (exit 1)", err)
	}
	_, err = write.PlaceHold(ctx, repo, write.HoldRequest{Common: common(false), Env: "dev", Service: "order-svc", Reason: "x"})
	if !errors.Is(err, write.ErrRunNotProven) {
		t.Fatalf("a hold with a typed --run in dev: %v, want ErrRunNotProven", err)
	}
	if h := head(); h != before {
		t.Fatalf("a refused write moved main to %s", h)
	}
	if err := deploy("dev", common(true), "3.2.0", '2'); err != nil {
		t.Fatalf("a proven run in dev: %v", err)
	}
	if err := deploy("qa", common(false), "3.2.0", '2'); err != nil {
		t.Fatalf("a typed --run in qa, which does not require OIDC: %v", err)
	}
	person := common(false)
	person.Run = ""
	if err := deploy("dev", person, "3.3.0", '3'); err != nil {
		t.Fatalf("a person's deploy (no --run) in dev: %v", err)
	}

	// requireOIDC is format version 3: an older file is told to say so.
	_, err = delivery.Parse([]byte("version: 2\nenvironments:\n  - {name: dev, sync: automated, trigger: main, approval: none, requireOIDC: true}\n"))
	if err == nil || !strings.Contains(err.Error(), "environments[0].requireOIDC: requireOIDC was added in format version 3") {
		t.Fatalf("requireOIDC in version 2: %v", err)
	}
}

// TestRequireOIDCBindsTheProvenRunToItsWrite: a token proves "a GitHub
// Actions run", and any repository's workflow can mint one. In an
// environment with requireOIDC, the proven run must be of the service's
// repository (services[].repository), its job in the environment's GitHub
// environment (githubEnvironment, default the name) or a later one's, and
// its workflow one delivery.yaml trusts (trustedWorkflows, default
// smp/delivery's cd.yml at a release tag). Anything else is refused, exit 1,
// nothing written, saying what to fix.
func TestRequireOIDCBindsTheProvenRunToItsWrite(t *testing.T) {
	t.Parallel()
	digest := "sha256:" + strings.Repeat("1", 64)
	file := "image:\n  repository: ghcr.io/smp/order-svc\n  tag: 3.1.0\n  digest: " + digest + "\n"
	bare := gitopstest.NewRemote(t, map[string]string{
		"delivery.yaml": "version: 4\nenvironments:\n" +
			"  - {name: dev, sync: automated, trigger: main, approval: none, requireOIDC: true}\n" +
			"  - {name: staging, sync: manual, trigger: rc, approval: none, requireOIDC: true}\n" +
			"  - {name: prod, sync: manual, trigger: release, approval: none, requireOIDC: true, githubEnvironment: production}\n" +
			"services:\n  - {name: order-svc, image: ghcr.io/smp/order-svc, repository: smp/order-svc}\n" +
			"  - {name: partner-svc, image: ghcr.io/smp/partner-svc}\n",
		"environments/dev/order-svc.yaml":     file,
		"environments/staging/order-svc.yaml": file,
		"environments/prod/order-svc.yaml":    file,
		"environments/prod/partner-svc.yaml":  strings.ReplaceAll(file, "order-svc", "partner-svc"),
	})
	ctx := context.Background()
	repo := repoFor(t, bare)
	head := func() string { return gitcmdtest.Git(t, bare, "rev-parse", "main") }
	cd := "smp/delivery/.github/workflows/cd.yml@refs/tags/v0.2.0"
	write1 := func(env, svc string, p write.ProvenRun) error {
		c := write.Common{By: "ci", Run: "https://github.com/" + p.Repository + "/actions/runs/7", Now: time.Now(), Proven: &p}
		_, err := write.Deploy(ctx, repo, write.DeployRequest{Common: c, Env: env, Service: svc, Image: img(t, svc, "3.2.0", '2')})
		return err
	}
	before := head()
	for _, tc := range []struct {
		name, env, svc string
		run            write.ProvenRun
		want           string
	}{
		{"another repository's run", "prod", "order-svc", write.ProvenRun{Repository: "mallory/fork", Environment: "production", JobWorkflow: cd},
			"this deploy's run is of repository mallory/fork, and delivery.yaml says order-svc is deployed by smp/order-svc"},
		{"a service without a repository", "prod", "partner-svc", write.ProvenRun{Repository: "smp/partner-svc", Environment: "production", JobWorkflow: cd},
			"say which one deploys partner-svc, with services[].repository: OWNER/NAME (format version 4)"},
		{"a dev job writing prod", "prod", "order-svc", write.ProvenRun{Repository: "smp/order-svc", Environment: "dev", JobWorkflow: cd},
			`this deploy's run is a job in GitHub environment "dev", and prod takes CI writes only from jobs in "production"`},
		{"a job without an environment", "staging", "order-svc", write.ProvenRun{Repository: "smp/order-svc", JobWorkflow: cd},
			`GitHub environment "no environment", and staging takes CI writes only from jobs in "staging"`},
		{"prod by its name, not its GitHub environment", "prod", "order-svc", write.ProvenRun{Repository: "smp/order-svc", Environment: "prod", JobWorkflow: cd},
			`only from jobs in "production"`},
		{"the service's own workflow", "dev", "order-svc", write.ProvenRun{Repository: "smp/order-svc", Environment: "dev", JobWorkflow: "smp/order-svc/.github/workflows/evil.yml@refs/heads/x"},
			"this deploy's job ran in workflow smp/order-svc/.github/workflows/evil.yml@refs/heads/x, which delivery.yaml does not trust (trustedWorkflows: smp/delivery/.github/workflows/cd.yml@refs/tags/v*)"},
		{"smp/delivery's cd.yml at a branch", "dev", "order-svc", write.ProvenRun{Repository: "smp/order-svc", Environment: "dev", JobWorkflow: "smp/delivery/.github/workflows/cd.yml@refs/heads/main"},
			"does not trust"},
	} {
		err := write1(tc.env, tc.svc, tc.run)
		if !errors.Is(err, write.ErrRunNotBound) || !fault.IsRefused(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrRunNotBound (exit 1) saying %q", tc.name, err, tc.want)
		}
		if h := head(); h != before {
			t.Fatalf("%s: a refused write moved main to %s", tc.name, h)
		}
	}
	// The right run, in its own environment or a later one's (a prod job
	// drains the queue behind prod's soak into staging), case as GitHub
	// spells it either way.
	if err := write1("prod", "order-svc", write.ProvenRun{Repository: "SMP/Order-Svc", Environment: "production", JobWorkflow: cd}); err != nil {
		t.Fatalf("the CD's prod job: %v", err)
	}
	if err := write1("staging", "order-svc", write.ProvenRun{Repository: "smp/order-svc", Environment: "production", JobWorkflow: cd}); err != nil {
		t.Fatalf("the CD's prod job writing staging: %v", err)
	}

	// The binding fields are format version 4, and are checked for shape.
	for _, tc := range []struct{ yaml, want string }{
		{"version: 3\nservices:\n  - {name: a, repository: smp/a}\n", "services[0].repository: repository was added in format version 4"},
		{"version: 3\nenvironments:\n  - {name: prod, sync: manual, trigger: release, approval: none, githubEnvironment: production}\n", "environments[0].githubEnvironment: githubEnvironment was added in format version 4"},
		{"version: 3\ntrustedWorkflows: [a/b/c.yml@v1]\n", "trustedWorkflows: trustedWorkflows was added in format version 4"},
		{"version: 4\nservices:\n  - {name: a, repository: 'smp'}\n", `services[0].repository: "smp" is not a GitHub repository: give OWNER/NAME, e.g. smp/a`},
		{"version: 4\ntrustedWorkflows: ['cd.yml']\n", `trustedWorkflows[0]: "cd.yml" is not OWNER/REPO/PATH@REF`},
		{"version: 4\ntrustedWorkflows: ['a/b/[.yml@v1']\n", `trustedWorkflows[0]: "a/b/[.yml@v1" is not OWNER/REPO/PATH@REF`},
		{"version: 4\nenvironments:\n  - {name: prod, sync: manual, trigger: release, approval: none, githubEnvironment: 'a:b'}\n", `environments[0].githubEnvironment: "a:b" is not a GitHub environment name`},
	} {
		if _, err := delivery.Parse([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
