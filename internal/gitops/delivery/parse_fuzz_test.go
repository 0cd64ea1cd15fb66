package delivery_test

import (
	"testing"

	"github.com/smp/delivery/internal/gitops/delivery"
)

// FuzzParse: delivery.yaml decides who may approve and where a build goes.
// Parse never panics, and what it accepts is valid: names that are safe as
// paths, environments in a non-empty promotion order, approvers that are
// logins.
func FuzzParse(f *testing.F) {
	f.Add([]byte("apiVersion: delivery.smp.vn/v1\nkind: Delivery\nenvironments:\n  - {name: dev, sync: automated, trigger: main, approval: none}\napprovers: [lan]\nservices:\n  - name: order-svc\n    image: ghcr.io/smp/order-svc\n"))
	f.Add([]byte("version: 2\nfuture: {x: 1}\n"))
	f.Add([]byte("environments: [{name: ../prod}]\n"))
	f.Add([]byte("releaseManagers: ['carol ']\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := delivery.Parse(b)
		if err != nil {
			return
		}
		if len(c.Environments) == 0 {
			t.Fatal("accepted a config without environments")
		}
		for _, e := range c.Environments {
			if !delivery.ValidName(e.Name) {
				t.Errorf("accepted environment name %q", e.Name)
			}
		}
		for _, p := range append(append([]string(nil), c.Approvers...), c.ReleaseManagers...) {
			if delivery.CheckPerson("login", p) != nil {
				t.Errorf("accepted approver %q", p)
			}
		}
		for _, s := range c.Services {
			if !delivery.ValidName(s.Name) {
				t.Errorf("accepted service name %q", s.Name)
			}
		}
	})
}
