package delivery

import (
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
