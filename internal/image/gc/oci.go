package gc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/smp/delivery/internal/image/imageref"
)

// createdAnnotation is the build time smpctl build writes (the commit time).
const createdAnnotation = "org.opencontainers.image.created"

// OCI is the backend for any registry that speaks the OCI distribution API
// with deletion enabled: it lists tags, groups them by digest and deletes
// manifests by digest.
type OCI struct {
	Repo   name.Repository
	Access imageref.Access
}

var _ Backend = (*OCI)(nil)

// Name implements Backend.
func (o *OCI) Name() string { return "oci " + o.Repo.String() }

// List implements Backend.
func (o *OCI) List(ctx context.Context) ([]Version, error) {
	opts := o.Access.Options(ctx)
	tags, err := remote.List(o.Repo, opts...)
	if err != nil {
		return nil, imageref.Explain(err, o.Repo.Registry, o.Access.Attempts)
	}
	byDigest := map[string]*Version{}
	var order []string
	for _, t := range tags {
		ref := o.Repo.Tag(t)
		if _, isAttachment := subjectOf(t); isAttachment {
			d, err := remote.Head(ref, opts...)
			if err != nil {
				return nil, fmt.Errorf("head %s: %w", ref, err)
			}
			add(byDigest, &order, d.Digest.String(), t, time.Time{})
			continue
		}
		desc, err := remote.Get(ref, opts...)
		if err != nil {
			return nil, fmt.Errorf("get %s: %w", ref, err)
		}
		created, err := createdOf(desc)
		if err != nil {
			return nil, fmt.Errorf("build time of %s: %w", ref, err)
		}
		add(byDigest, &order, desc.Digest.String(), t, created)
	}
	out := make([]Version, 0, len(order))
	for _, d := range order {
		out = append(out, *byDigest[d])
	}
	return out, nil
}

func add(m map[string]*Version, order *[]string, digest, tag string, created time.Time) {
	v, ok := m[digest]
	if !ok {
		v = &Version{Digest: digest}
		m[digest] = v
		*order = append(*order, digest)
	}
	v.Tags = append(v.Tags, tag)
	if v.Created.IsZero() {
		v.Created = created
	}
}

// createdOf reads the build time: the created annotation, else the image
// config's created field; zero when neither says.
func createdOf(desc *remote.Descriptor) (time.Time, error) {
	var anns map[string]string
	if desc.MediaType.IsIndex() {
		idx, err := desc.ImageIndex()
		if err != nil {
			return time.Time{}, err
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return time.Time{}, err
		}
		anns = m.Annotations
	} else {
		img, err := desc.Image()
		if err != nil {
			return time.Time{}, err
		}
		m, err := img.Manifest()
		if err != nil {
			return time.Time{}, err
		}
		anns = m.Annotations
		if anns[createdAnnotation] == "" {
			cfg, err := img.ConfigFile()
			if err == nil && !cfg.Created.IsZero() && cfg.Created.Unix() > 0 {
				return cfg.Created.UTC(), nil
			}
		}
	}
	if s := anns[createdAnnotation]; s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return time.Time{}, nil //nolint:nilerr // an unreadable time means unknown age, which keeps the image
		}
		return t, nil
	}
	return time.Time{}, nil
}

// Delete implements Backend: the referrers of the digest (its SBOMs) are
// listed first, then the manifest is deleted by digest, then its tags
// (registries that drop tags with the manifest answer 404, which is fine),
// then the referrers.
func (o *OCI) Delete(ctx context.Context, v Version) error {
	opts := o.Access.Options(ctx)
	d := o.Repo.Digest(v.Digest)
	var referrers []v1.Descriptor
	if idx, err := remote.Referrers(d, opts...); err == nil {
		if m, err := idx.IndexManifest(); err == nil {
			referrers = m.Manifests
		}
	}
	if err := remote.Delete(d, opts...); err != nil && !notFound(err) {
		return imageref.Explain(err, o.Repo.Registry, o.Access.Attempts)
	}
	for _, t := range v.Tags {
		if err := remote.Delete(o.Repo.Tag(t), opts...); err != nil && !notFound(err) && !unsupported(err) {
			return fmt.Errorf("delete tag %s: %w", t, err)
		}
	}
	for _, r := range referrers {
		if err := remote.Delete(o.Repo.Digest(r.Digest.String()), opts...); err != nil && !notFound(err) {
			return fmt.Errorf("delete referrer %s: %w", r.Digest, err)
		}
	}
	return nil
}

func notFound(err error) bool { return imageref.NotFound(err) }

// unsupported: registries may refuse deleting a tag by name (the OCI
// distribution spec makes it optional); deleting the digest removed it.
func unsupported(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && (te.StatusCode == http.StatusMethodNotAllowed || te.StatusCode == http.StatusBadRequest)
}
