package image

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/smp/delivery/internal/image/imageref"
	"github.com/smp/delivery/internal/image/sbom"

	"github.com/smp/delivery/internal/fault"
)

// Sentinel errors for expected outcomes.
var (
	// ErrNotFound: no image for that tag, digest or commit (exit 1).
	ErrNotFound = fault.Refusedf("image not found")
	// ErrTagTaken: the tag already names another digest; release tags never move (exit 1).
	ErrTagTaken = fault.Refusedf("tag already points to another digest")
)

// Pushed is the outcome of a push: what to write in the GitOps repo.
type Pushed struct {
	Repo      string           `json:"repository"`
	Tag       string           `json:"tag"`
	Tags      []string         `json:"tags"`
	Digest    string           `json:"digest"`
	Reference string           `json:"reference"` // REPO:TAG@sha256:…
	Version   string           `json:"version"`
	Commit    string           `json:"commit"`
	Created   time.Time        `json:"created"`
	Base      string           `json:"base"` // NAME@sha256:… when pulled, else "builtin"
	Pushed    bool             `json:"pushed"`
	Platforms []PushedPlatform `json:"platforms"`
}

// PushedPlatform is one platform of a pushed image.
type PushedPlatform struct {
	Platform   string `json:"platform"`
	Digest     string `json:"digest"`
	SBOM       string `json:"sbom,omitempty"` // digest of the SBOM referrer
	BinarySize int64  `json:"binarySize"`
	ImageSize  int64  `json:"imageSize"` // compressed: config, manifest and layers
}

// Describe returns the outcome of a build without pushing it.
func Describe(a *Artifact) (*Pushed, error) {
	d, err := a.Digest()
	if err != nil {
		return nil, err
	}
	p := &Pushed{
		Repo: a.Repo.String(), Tag: a.Tags[0], Tags: a.Tags, Digest: d.String(),
		Reference: fmt.Sprintf("%s:%s@%s", a.Repo, a.Tags[0], d),
		Version:   a.Version, Commit: a.Commit, Created: a.Created, Base: a.Base,
	}
	for _, pi := range a.Platforms {
		size, err := imageSize(pi.Image)
		if err != nil {
			return nil, err
		}
		p.Platforms = append(p.Platforms, PushedPlatform{Platform: pi.Platform.String(), Digest: pi.Digest.String(), BinarySize: pi.BinarySize, ImageSize: size})
	}
	return p, nil
}

func imageSize(img v1.Image) (int64, error) {
	m, err := img.Manifest()
	if err != nil {
		return 0, err
	}
	raw, err := img.RawManifest()
	if err != nil {
		return 0, err
	}
	n := m.Config.Size + int64(len(raw))
	for _, l := range m.Layers {
		n += l.Size
	}
	return n, nil
}

// SBOMArtifact wraps an SBOM as an OCI artifact whose subject is the image
// it describes, so the registry's referrers API lists it next to the image.
func SBOMArtifact(doc []byte, subject v1.Image, created time.Time) (v1.Image, error) {
	desc, err := describe(subject)
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, sbom.MediaType)
	img, err = mutate.Append(img, mutate.Addendum{
		Layer:       static.NewLayer(doc, sbom.MediaType),
		Annotations: map[string]string{"org.opencontainers.image.title": "sbom.cdx.json"},
	})
	if err != nil {
		return nil, fmt.Errorf("wrap SBOM: %w", err)
	}
	img = mutate.Annotations(img, map[string]string{AnnotationCreated: created.UTC().Format(time.RFC3339)}).(v1.Image)
	return mutate.Subject(img, *desc).(v1.Image), nil
}

func describe(img v1.Image) (*v1.Descriptor, error) {
	d, err := img.Digest()
	if err != nil {
		return nil, err
	}
	size, err := img.Size()
	if err != nil {
		return nil, err
	}
	mt, err := img.MediaType()
	if err != nil {
		return nil, err
	}
	return &v1.Descriptor{MediaType: mt, Digest: d, Size: size}, nil
}

// Push uploads the artifact: layers and config first, then the manifest
// under its sha- tag (a failure before that leaves no tag behind), then each
// platform's SBOM referrer, then the extra tags.
func Push(ctx context.Context, a *Artifact, acc imageref.Access) (*Pushed, error) {
	out, err := Describe(a)
	if err != nil {
		return nil, err
	}
	opts := acc.Options(ctx)
	first := a.Repo.Tag(a.Tags[0])
	if a.Index != nil {
		err = remote.WriteIndex(first, a.Index, opts...)
	} else {
		err = remote.Write(first, a.Platforms[0].Image, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("push %s: %w", first, imageref.Explain(err, a.Repo.Registry, acc.Attempts))
	}
	for i, pi := range a.Platforms {
		art, err := SBOMArtifact(pi.SBOM, pi.Image, a.Created)
		if err != nil {
			return nil, err
		}
		d, err := art.Digest()
		if err != nil {
			return nil, err
		}
		if err := remote.Write(a.Repo.Digest(d.String()), art, opts...); err != nil {
			return nil, fmt.Errorf("push SBOM of %s: %w", pi.Platform.String(), imageref.Explain(err, a.Repo.Registry, acc.Attempts))
		}
		out.Platforms[i].SBOM = d.String()
	}
	taggable, err := a.taggable()
	if err != nil {
		return nil, err
	}
	for _, t := range a.Tags[1:] {
		if err := tagSafely(ctx, a.Repo.Tag(t), taggable, acc); err != nil {
			return nil, err
		}
	}
	out.Pushed = true
	return out, nil
}

func (a *Artifact) taggable() (remote.Taggable, error) {
	if a.Index != nil {
		return a.Index, nil
	}
	return a.Platforms[0].Image, nil
}

// head returns the descriptor a tag or digest names, or ErrNotFound.
func head(ref name.Reference, opts []remote.Option) (*v1.Descriptor, error) {
	d, err := remote.Head(ref, opts...)
	if err != nil {
		if imageref.NotFound(err) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, ref)
		}
		return nil, err
	}
	return d, nil
}

// tagSafely adds tag to what t is, unless the tag already names another
// digest: release and rc tags are immutable.
func tagSafely(ctx context.Context, tag name.Tag, t remote.Taggable, acc imageref.Access) error {
	raw, err := t.RawManifest()
	if err != nil {
		return err
	}
	want, _, err := v1.SHA256(strings.NewReader(string(raw)))
	if err != nil {
		return err
	}
	opts := acc.Options(ctx)
	cur, err := head(tag, opts)
	switch {
	case err == nil && cur.Digest == want:
		return nil // already there: promotion is idempotent
	case err == nil:
		return fmt.Errorf("%w: %s is %s, not %s; tags are never moved — use a new version", ErrTagTaken, tag, cur.Digest, want)
	case !errors.Is(err, ErrNotFound):
		return fmt.Errorf("check tag %s: %w", tag, imageref.Explain(err, tag.Registry, acc.Attempts))
	}
	if err := remote.Tag(tag, t, opts...); err != nil {
		return fmt.Errorf("tag %s: %w", tag, imageref.Explain(err, tag.Registry, acc.Attempts))
	}
	return nil
}

// Tagged is the outcome of Tag.
type Tagged struct {
	Repo      string   `json:"repository"`
	Digest    string   `json:"digest"`
	Tags      []string `json:"tags"`
	Reference string   `json:"reference"` // REPO:LASTTAG@sha256:…
}

// Tag adds tags to an existing digest without rebuilding (promotion: an rc
// or release tag on the digest built for the commit).
func Tag(ctx context.Context, d name.Digest, tags []string, acc imageref.Access) (*Tagged, error) {
	if len(tags) == 0 {
		return nil, fault.Inputf("tags", "%w: no tag given: give one such as 3.3.0-rc.1", ErrBadInput)
	}
	for _, t := range tags {
		if err := imageref.CheckTag(t); err != nil {
			return nil, err
		}
	}
	opts := acc.Options(ctx)
	desc, err := remote.Get(d, opts...)
	if err != nil {
		if imageref.NotFound(err) {
			return nil, fmt.Errorf("%w: %s is not in the registry: build and push it first (smpctl build --push)", ErrNotFound, d)
		}
		return nil, fmt.Errorf("get %s: %w", d, imageref.Explain(err, d.Registry, acc.Attempts))
	}
	for _, t := range tags {
		if err := tagSafely(ctx, d.Context().Tag(t), desc, acc); err != nil {
			return nil, err
		}
	}
	return &Tagged{Repo: d.Context().String(), Digest: desc.Digest.String(), Tags: tags,
		Reference: fmt.Sprintf("%s:%s@%s", d.Context(), tags[len(tags)-1], desc.Digest)}, nil
}

// Resolved is the image built for a commit.
type Resolved struct {
	Repo      string `json:"repository"`
	Commit    string `json:"commit"`
	Tag       string `json:"tag"`
	Digest    string `json:"digest"`
	Version   string `json:"version,omitempty"`
	Created   string `json:"created,omitempty"`
	Reference string `json:"reference"`
}

// Resolve finds the digest built for commit: the sha-<short> tag, checked
// against the image's revision annotation so a short-hash collision or a
// hand-pushed tag cannot pass for the build of that commit.
func Resolve(ctx context.Context, repo name.Repository, commit string, acc imageref.Access) (*Resolved, error) {
	commit = strings.ToLower(commit)
	if !isHex(commit) || len(commit) < 7 || len(commit) > 64 {
		return nil, fault.Inputf("commit", "%w: %q is not a commit id (7 to 40 hex digits)", ErrBadInput, commit)
	}
	tag := repo.Tag(ShortTag(commit))
	opts := acc.Options(ctx)
	desc, err := remote.Get(tag, opts...)
	if err != nil {
		if imageref.NotFound(err) {
			return nil, fmt.Errorf("%w: no image for commit %s in %s (tag %s): was the merge built? (smpctl build --push)", ErrNotFound, commit, repo, tag.TagStr())
		}
		return nil, fmt.Errorf("resolve %s: %w", tag, imageref.Explain(err, repo.Registry, acc.Attempts))
	}
	anns, err := annotations(desc)
	if err != nil {
		return nil, err
	}
	rev := anns[AnnotationRevision]
	if rev == "" || !strings.HasPrefix(rev, commit) && !strings.HasPrefix(commit, rev) {
		return nil, fmt.Errorf("%w: %s is %s, whose revision annotation is %q, not commit %s: the tag was not written by smpctl build for this commit", ErrNotFound, tag, desc.Digest, rev, commit)
	}
	return &Resolved{
		Repo: repo.String(), Commit: rev, Tag: tag.TagStr(), Digest: desc.Digest.String(),
		Version: anns[AnnotationVersion], Created: anns[AnnotationCreated],
		Reference: fmt.Sprintf("%s:%s@%s", repo, tag.TagStr(), desc.Digest),
	}, nil
}

// annotations reads the manifest annotations of an image or index.
func annotations(desc *remote.Descriptor) (map[string]string, error) {
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return nil, err
		}
		return m.Annotations, nil
	}
	m, err := v1.ParseManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		return nil, fmt.Errorf("parse manifest %s: %w", desc.Digest, err)
	}
	return m.Annotations, nil
}
