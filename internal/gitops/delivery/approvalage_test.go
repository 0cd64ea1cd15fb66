package delivery

import (
	"strings"
	"testing"
	"time"

	"github.com/smp/delivery/internal/fault"
)

func TestApprovalMaxAge(t *testing.T) {
	t.Parallel()
	c, err := Parse([]byte("version: 3\nenvironments: [{name: dev}, {name: staging, approval: approval, approvalMaxAge: 72h}, {name: prod, approval: release-manager}]\n"))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	if exp, ok := c.Environments[1].ApprovalExpiry(at); !ok || !exp.Equal(at.Add(72*time.Hour)) {
		t.Errorf("staging's approval of %s expires %s (%t), want 72h later", at, exp, ok)
	}
	// The default: approvals do not expire (the behaviour before approvalMaxAge).
	if exp, ok := c.Environments[2].ApprovalExpiry(at); ok {
		t.Errorf("prod has no approvalMaxAge, and its approvals expire at %s", exp)
	}
	for _, tc := range []struct{ name, in, want string }{
		{"an older version", "version: 2\nenvironments: [{name: staging, approval: approval, approvalMaxAge: 72h}]\n", "approvalMaxAge was added in format version 3, and this file says version: 2: write version: 3"},
		{"a bare number", "version: 3\nenvironments: [{name: staging, approval: approval, approvalMaxAge: 72}]\n", "write it with its unit"},
		{"days", "version: 3\nenvironments: [{name: staging, approval: approval, approvalMaxAge: 3d}]\n", `"3d" is not a duration`},
		{"negative", "version: 3\nenvironments: [{name: staging, approval: approval, approvalMaxAge: -1h}]\n", "environments[0].approvalMaxAge: -1h0m0s is negative"},
		{"too short", "version: 3\nenvironments: [{name: staging, approval: approval, approvalMaxAge: 30s}]\n", "is under a minute"},
		{"no approval to expire", "version: 3\nenvironments: [{name: dev, approvalMaxAge: 72h}]\n", "dev needs no approval (approval: none), so there is nothing to expire"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, want an error with %q", err, tc.want)
			}
			// Bad input in delivery.yaml: exit 2.
			if !fault.IsInvalid(err) {
				t.Errorf("Parse = %v, kind %v: want fault.ErrInvalid", err, fault.Kind(err))
			}
		})
	}
}
