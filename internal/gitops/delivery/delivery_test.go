package delivery

import (
	"errors"
	"strings"
	"testing"
)

func TestDefaultIsTheSeedTable(t *testing.T) {
	t.Parallel()
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for trig, want := range map[Trigger]string{TriggerMain: "dev", TriggerRC: "staging", TriggerRelease: "prod"} {
		if e, ok := c.EnvForTrigger(trig); !ok || e.Name != want {
			t.Errorf("trigger %s → %q, want %s", trig, e.Name, want)
		}
	}
	if got := strings.Join(c.EnvNames(), ","); got != "dev,staging,prod" {
		t.Errorf("order = %s", got)
	}
}

func TestParseRefusesMistakesWithThePath(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, yaml, want string }{
		{"unknown field", "environmentz: []\n", "field environmentz not found"},
		{"bad env name", "environments: [{name: ../prod}]\n", `environments[0].name: invalid environment name "../prod"`},
		{"duplicate env", "environments: [{name: dev}, {name: dev}]\n", "listed twice"},
		{"bad sync", "environments: [{name: dev, sync: often}]\n", `environments[0].sync: "often"`},
		{"bad approval", "environments: [{name: dev, approval: maybe}]\n", `environments[0].approval: "maybe"`},
		{"bad trigger", "environments: [{name: dev, trigger: push}]\n", `environments[0].trigger: "push"`},
		{"two envs one trigger", "environments: [{name: a, trigger: main}, {name: b, trigger: main}]\n", "already deploys to a"},
		{"bad service", "services: [{name: Order_Svc}]\n", `services[0].name: invalid service name "Order_Svc"`},
		{"freeze unknown env", "freezes: [{name: x, environments: [qa]}]\n", `unknown environment "qa"`},
		{"freeze bad zone", "freezes: [{name: x, environments: [prod], timeZone: Mars/Base}]\n", "freezes[0].timeZone"},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error = %v, want it to mention %q", tc.name, err, tc.want)
		}
	}
}

func TestParseFillsDefaults(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("services: [{name: order-svc, critical: true}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.MainBranch != "main" || len(c.Environments) != 3 || c.Identity.Name != "smpctl-bot" {
		t.Fatalf("defaults not applied: %+v", c)
	}
	if s, ok := c.Service("order-svc"); !ok || !s.Critical {
		t.Fatalf("Service(order-svc) = %+v, %v", s, ok)
	}
	if _, i, ok := c.Env("prod"); !ok || i != 2 {
		t.Fatalf("Env(prod) index %d ok %v", i, ok)
	}
}

func TestFormatVersions(t *testing.T) {
	t.Parallel()
	t.Run("an absent version is version 1, and writable", func(t *testing.T) {
		c, err := Parse([]byte("services: []\n"))
		if err != nil || c.Version != 1 || c.CheckWritable() != nil {
			t.Fatalf("Parse = %+v, %v; CheckWritable = %v", c, err, c.CheckWritable())
		}
	})
	t.Run("a newer version reads, ignoring the fields it adds, and refuses writes", func(t *testing.T) {
		c, err := Parse([]byte("version: 5\nsignedApprovals: true\nservices: [{name: order-svc, owner: team-a}]\n"))
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := c.Service("order-svc"); !ok || c.Version != 5 {
			t.Fatalf("config = %+v", c)
		}
		err = c.CheckWritable()
		if !errors.Is(err, ErrNewerFormat) || !strings.Contains(err.Error(), "upgrade smpctl") || !strings.Contains(err.Error(), "version: 5") {
			t.Fatalf("CheckWritable = %v", err)
		}
	})
	t.Run("a newer version that breaks a rule this smpctl knows says to upgrade", func(t *testing.T) {
		_, err := Parse([]byte("version: 5\nenvironments: [{name: dev, trigger: hotfix}]\n"))
		if err == nil || !strings.Contains(err.Error(), "upgrade smpctl") {
			t.Fatalf("Parse = %v", err)
		}
	})
	for _, bad := range []string{"version: 0\n", "version: -1\n", "version: 1.5\n", "version: two\n"} {
		t.Run("version is refused: "+strings.TrimSpace(bad), func(t *testing.T) {
			if _, err := Parse([]byte(bad)); err == nil || !strings.Contains(err.Error(), "not a format version") {
				t.Fatalf("Parse = %v", err)
			}
		})
	}
	t.Run("unknown fields of this version are still typos", func(t *testing.T) {
		if _, err := Parse([]byte("version: 1\nsignedApprovals: true\n")); err == nil {
			t.Fatal("no error")
		}
	})
	t.Run("another apiVersion is another schema: refused", func(t *testing.T) {
		_, err := Parse([]byte("apiVersion: delivery.smp.vn/v2\n"))
		if err == nil || !strings.Contains(err.Error(), "apiVersion") {
			t.Fatalf("Parse = %v", err)
		}
	})
}
