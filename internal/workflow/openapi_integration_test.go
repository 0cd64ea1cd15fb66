//go:build integration

package workflow

import (
	"os"
	"strings"
	"testing"
)

// baseSpec passes spectral's "spectral:oas" rules at warn level, the
// job's default ruleset and gate.
const baseSpec = `openapi: 3.0.3
info:
  title: t
  version: "1.0.0"
  description: A fixture API for the openapi job's steps.
  contact: {name: t}
servers:
  - url: http://localhost:8080
tags:
  - {name: orders, description: Orders.}
paths:
  /orders:
    post:
      tags: [orders]
      operationId: createOrder
      summary: Create an order.
      description: Creates an order.
      responses:
        "201": {description: created}
  /orders/{id}:
    get:
      tags: [orders]
      operationId: getOrder
      summary: One order.
      description: Reads an order.
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
      responses:
        "200": {description: ok}
`

const healthPath = `  /health:
    get:
      tags: [orders]
      operationId: getHealth
      summary: Liveness.
      description: Answers while the process lives.
      responses:
        "200": {description: ok}
`

// TestOpenAPIJobOnASpecHistory runs the openapi job's steps (Spectral
// lint, Validate, Breaking changes), as written, with the real spectral,
// swagger-cli and oasdiff, in git repositories whose HEAD~1 holds the base
// spec: each check passes what it should and fails what it should, at its
// own step. (The seed's "breaking change check" only validated the file.)
func TestOpenAPIJobOnASpecHistory(t *testing.T) {
	t.Parallel() // fixture repositories of its own; see TestMain
	steps := ciJob(t, "openapi", map[string]any{})
	tests := []struct {
		name string
		base string // "" = no spec on the base
		rev  string
		// from skips the steps before it: a spec swagger-cli rejects is
		// one spectral rejects first.
		from       string
		failStep   string // "" = the job passes
		failOutput string
	}{
		{name: "adding an endpoint passes", base: baseSpec, rev: baseSpec + healthPath},
		{name: "a new API has nothing to break", rev: baseSpec},
		{name: "removing an endpoint fails the breaking-change step", base: baseSpec,
			rev:      strings.Split(baseSpec, "  /orders/{id}:")[0],
			failStep: "Breaking changes against the base branch", failOutput: "api-path-removed"},
		{name: "an operation without a description fails spectral lint", base: baseSpec,
			rev:      strings.Replace(baseSpec, "      description: Reads an order.\n", "", 1),
			failStep: "Spectral lint", failOutput: "operation-description"},
		{name: "a dangling $ref fails swagger-cli validate", base: baseSpec,
			rev:  strings.Replace(baseSpec, `"200": {description: ok}`, `"200": {$ref: "#/components/responses/Missing"}`, 1),
			from: "Validate", failStep: "Validate", failOutput: `Token "components" does not exist`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			git(t, dir, "init", "-q")
			writeFile(t, dir, "README.md", "x\n")
			if tc.base != "" {
				writeFile(t, dir, "api/openapi.yaml", tc.base)
			}
			git(t, dir, "add", ".")
			git(t, dir, "commit", "-qm", "base")
			writeFile(t, dir, "api/openapi.yaml", tc.rev)
			git(t, dir, "add", ".")
			git(t, dir, "commit", "-qm", "change")
			run := steps
			if tc.from != "" {
				for i, s := range steps {
					if s.Name == tc.from {
						run = steps[i:]
					}
				}
			}
			ran, fail := runJob(t, run, dir, os.Environ(), t.TempDir())
			switch {
			case tc.failStep == "" && fail != nil:
				t.Fatalf("the job failed: %v", fail)
			case tc.failStep == "" && ran != runSteps(steps):
				t.Fatalf("ran %d steps of %d", ran, runSteps(steps))
			case tc.failStep != "" && fail == nil:
				t.Fatalf("the job passed; step %q should have failed", tc.failStep)
			case tc.failStep != "" && (fail.Step != tc.failStep || !strings.Contains(fail.Stdout+fail.Stderr, tc.failOutput)):
				t.Fatalf("want step %q to fail with %q; got %q failing: %v", tc.failStep, tc.failOutput, fail.Step, fail)
			}
		})
	}
}
