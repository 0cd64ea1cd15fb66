// Package image builds, pushes, tags and resolves SMP service images without
// a Docker daemon, the way ko does: `go build` the service's main package
// (CGO_ENABLED=0, -trimpath, the seed's ldflags), put the binary at
// /app/server on a base — distroless pinned by digest when its registry
// answers (resolve.go), else a minimal base assembled in-process — with
// go-containerregistry, and push it.
//
// What it guarantees (docs/design.md §2.1, §2.2):
//   - reproducible: the same commit gives the same digest (file times are the
//     commit time, tar entries are sorted, owners fixed, gzip without a
//     timestamp, the config's created time is the commit time);
//   - immutable references: an image is always tagged sha-<short commit>,
//     never latest or main; promotion adds tags to an existing digest;
//   - nothing half-pushed: blobs go first, the manifest last, and the SBOM
//     referrer only once its subject exists;
//   - an SBOM (CycloneDX, package sbom) per platform, attached as an OCI
//     referrer whose subject is the platform image.
package image
