package testimage

import (
	"testing"

	"github.com/smp/delivery/internal/testkit/testctx"
)

// Start builds (once per dir) the test server of version in mode, serves
// it, and stops it when t ends; it returns its URL. A build or a start
// that fails fails t.
func Start(t testing.TB, dir, version, mode string) string {
	t.Helper()
	ctx := testctx.New(t)
	bin, err := Binary(ctx, dir, version, mode)
	if err != nil {
		t.Fatal(err)
	}
	url, stop, err := Serve(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return url
}
