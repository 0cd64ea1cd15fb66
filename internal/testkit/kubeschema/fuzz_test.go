package kubeschema_test

import (
	"errors"
	"os"
	"testing"

	"github.com/smp/delivery/internal/testkit/kubeschema"
)

// FuzzValidate feeds arbitrary YAML streams to Validate: it must never panic, and any error
// it returns for a parsable stream must be a *ValidationError.
func FuzzValidate(f *testing.F) {
	for _, file := range []string{"testdata/builtin.yaml", "testdata/argocd-apps.yaml"} {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata: {a: 1}\n"))
	f.Add([]byte("---\n---\n# only comments\n"))
	f.Add([]byte("- a\n- b\n"))
	f.Add([]byte("apiVersion: apps/v1\nkind: Deployment\nspec: {replicas: [1]}\n"))
	v := validator(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		// Bad input is always reported as ErrInvalid, so callers can tell it from a failure
		// to load the schemas.
		if err := v.Validate(data); err != nil && !errors.Is(err, kubeschema.ErrInvalid) {
			t.Fatalf("error does not wrap ErrInvalid: %T %v", err, err)
		}
	})
}
