//go:build testserverdeps

package testimage

// The test server under testdata/ is outside ./..., so go mod tidy would
// drop what only it imports; this file, built with no tag anyone sets,
// keeps those modules (and their go.sum lines) in the build graph.
import (
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
)
