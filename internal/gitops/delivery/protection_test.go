package delivery

import (
	"strings"
	"testing"
	"time"
)

const protectHead = "version: 3\n"

func TestProtectionFields(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte(protectHead + "environments: [{name: dev}, {name: staging, onGateFailure: hold}, {name: prod, soak: 30m}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := c.Environments[0].GateActionFor(); got != GateRollback {
		t.Errorf("dev's default action = %q, want rollback", got)
	}
	if got := c.Environments[1].GateActionFor(); got != GateHold {
		t.Errorf("staging's action = %q, want hold", got)
	}
	if got := c.Environments[2].Soak.D(); got != 30*time.Minute {
		t.Errorf("prod's soak = %s, want 30m", got)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"an older version", "version: 2\nenvironments: [{name: dev}, {name: prod, soak: 30m}]\n", "write version: 3"},
		{"an unknown action", protectHead + "environments: [{name: dev, onGateFailure: page}]\n", `"page" is not one of rollback, hold, notify`},
		{"a bare number", protectHead + "environments: [{name: dev}, {name: prod, soak: 30}]\n", "write it with its unit"},
		{"not a duration", protectHead + "environments: [{name: dev}, {name: prod, soak: half an hour}]\n", "write it with its unit"},
		{"negative", protectHead + "environments: [{name: dev}, {name: prod, soak: -5m}]\n", "is negative"},
		{"on the first environment", protectHead + "environments: [{name: dev, soak: 5m}, {name: prod}]\n", "is the first environment"},
		{"too short", protectHead + "environments: [{name: dev}, {name: prod, soak: 10ms}]\n", "under a second"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, want an error with %q", err, tc.want)
			}
		})
	}
}
