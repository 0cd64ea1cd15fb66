// Package kubeconfigtest holds kubeconfigs for tests of what smpctl does
// when a cluster cannot be used. It has no dependencies, so that the
// workflow tests' module can import it without the Kubernetes client.
package kubeconfigtest

// Unreachable is a kubeconfig whose cluster does not answer: nothing
// listens on 127.0.0.1:1. Its context is "down", so messages name
// "context down".
const Unreachable = `apiVersion: v1
kind: Config
clusters:
  - name: down
    cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}
users:
  - name: u
    user: {token: t}
contexts:
  - name: down
    context: {cluster: down, user: u}
current-context: down
`
