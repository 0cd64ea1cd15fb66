// Package policy holds SMP's Kyverno admission policies for container images (docs/seed.md §15:
// ghcr.io only, no :latest, digests in staging and prod, signed images in prod) and the tests
// that check them against Kyverno's own CRD schema and against the seed's rules.
package policy
