package image

// This file decides the base an image is layered on: a base pinned by the
// caller, else the default base (distroless) pinned by digest when its
// registry answers, else the built-in base.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/smp/delivery/internal/image/imageref"

	"github.com/smp/delivery/internal/fault"
)

// Base choices.
const (
	// DefaultBase is the base `smpctl build` pulls and pins by digest when
	// no --base is given and its registry answers.
	DefaultBase = "gcr.io/distroless/static-debian12:nonroot"
	// BuiltinBase is the --base value that forces the built-in base, with
	// no network at all.
	BuiltinBase = "builtin"
	// DefaultBaseTimeout bounds the whole resolution of the default base
	// (every attempt): an offline machine must not wait on gcr.io.
	DefaultBaseTimeout = 3 * time.Second
	// Base annotations (OCI image spec), written when a base is pulled.
	AnnotationBaseName   = "org.opencontainers.image.base.name"
	AnnotationBaseDigest = "org.opencontainers.image.base.digest"
)

// ErrBaseRefused marks a base whose registry answered but would not give
// it (401, 403, 404, manifest unknown, a server error): exit 1, never a
// silent fall back to the built-in base, because a misconfigured mirror
// must not quietly ship another base.
var ErrBaseRefused = fault.Refusedf("base image refused")

// pulledBase is a base image pinned by digest, fetched under the build's
// context (pushing later streams its layers from its registry).
type pulledBase struct {
	name   string // the reference without digest, e.g. gcr.io/distroless/static-debian12:nonroot
	pinned name.Digest
	desc   *remote.Descriptor
}

// String is what the output shows: NAME@sha256:….
func (b *pulledBase) String() string { return b.name + "@" + b.pinned.DigestStr() }

// baseChoice is the outcome of resolveBase: a pulled base, or nil for the
// built-in one, and the line of progress that says which and why.
type baseChoice struct {
	pulled *pulledBase
	note   string
}

// withoutDigest returns the reference as written, minus its digest.
func withoutDigest(ref name.Reference) string {
	s := ref.String()
	if d, ok := ref.(name.Digest); ok {
		s = strings.TrimSuffix(s, "@"+d.DigestStr())
		if s == "" {
			s = d.Context().String()
		}
	}
	return s
}

// resolveBase decides the base. A pinned Base is fetched with the normal
// retries and any failure is an error. Otherwise DefaultBase, if set, is
// asked for under DefaultBaseTimeout with two attempts: an answer pins it by
// digest; no answer at all (DNS failure, connection refused, time out) means
// the built-in base; an answer that is an error is ErrBaseRefused.
func (o *BuildOptions) resolveBase(ctx context.Context) (*baseChoice, error) {
	if o.Base.DigestStr() != "" {
		b, err := o.fetchBase(ctx, o.Base, withoutDigest(o.Base))
		if err != nil {
			return nil, fmt.Errorf("pull base %s: %w", o.Base, imageref.Explain(err, o.Base.Registry, o.BaseAccess.Attempts))
		}
		return &baseChoice{pulled: b, note: fmt.Sprintf("build: base %s (pinned by --base)", b)}, nil
	}
	if o.DefaultBase == nil {
		return &baseChoice{note: "build: base built-in (CA certificates, passwd with nonroot 65532, no shell)"}, nil
	}
	timeout := o.DefaultBaseTimeout
	if timeout <= 0 {
		timeout = DefaultBaseTimeout
	}
	acc := o.BaseAccess
	acc.Attempts, acc.Backoff = 2, 250*time.Millisecond
	rctx, cancel := context.WithTimeout(ctx, timeout)
	desc, err := remote.Get(o.DefaultBase, acc.Options(rctx)...)
	timedOut := errors.Is(rctx.Err(), context.DeadlineExceeded)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("resolve base %s: %w", o.DefaultBase, ctx.Err())
		}
		why := imageref.Explain(err, o.DefaultBase.Context().Registry, acc.Attempts)
		// An HTTP answer, even one that came as time ran out, is an answer.
		if status(err) == "" && (timedOut || unreachable(why)) {
			reason := rootCause(err)
			if errors.Is(err, context.DeadlineExceeded) {
				reason = fmt.Sprintf("no answer within %s", timeout)
			}
			return &baseChoice{note: fmt.Sprintf("build: base built-in: default base %s is unreachable (%s); pin one with --base REF@sha256:… or choose --base builtin", o.DefaultBase, reason)}, nil
		}
		return nil, fmt.Errorf("%w: default base %s: the registry answered%s with an error, so smpctl does not fall back to the built-in base: %w; fix --default-base (SMP_DEFAULT_BASE) or its credentials, pin a base with --base REF@sha256:…, or pass --base builtin", ErrBaseRefused, o.DefaultBase, status(err), why)
	}
	// Pinned: fetched again by digest under the build's context, which the
	// push will use to stream the base's layers.
	pinned := o.DefaultBase.Context().Digest(desc.Digest.String())
	b, err := o.fetchBase(ctx, pinned, withoutDigest(o.DefaultBase))
	if err != nil {
		return nil, fmt.Errorf("%w: pull base %s: %w", ErrBaseRefused, pinned, imageref.Explain(err, pinned.Registry, o.BaseAccess.Attempts))
	}
	return &baseChoice{pulled: b, note: fmt.Sprintf("build: base %s (default base, pinned by digest: --base %s reproduces it)", b, b)}, nil
}

func (o *BuildOptions) fetchBase(ctx context.Context, d name.Digest, display string) (*pulledBase, error) {
	desc, err := remote.Get(d, o.BaseAccess.Options(ctx)...)
	if err != nil {
		return nil, err
	}
	if desc.Digest.String() != d.DigestStr() {
		return nil, fmt.Errorf("registry returned %s for %s", desc.Digest, d)
	}
	return &pulledBase{name: display, pinned: d, desc: desc}, nil
}

// unreachable tells a registry that never answered from one that answered
// with an error.
func unreachable(err error) bool {
	return errors.Is(err, imageref.ErrUnreachable) || errors.Is(err, syscall.ENETUNREACH) ||
		errors.Is(err, syscall.EHOSTUNREACH) || strings.Contains(err.Error(), "network is unreachable")
}

// status is " HTTP 404" for a registry's error answer, else "".
func status(err error) string {
	var te *transport.Error
	if errors.As(err, &te) {
		return fmt.Sprintf(" HTTP %d", te.StatusCode)
	}
	return ""
}

// rootCause is the innermost message of err: "lookup gcr.io: no such host"
// rather than the whole chain of URLs.
func rootCause(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err.Error()
		}
		err = u
	}
}

// image returns the base's image for platform p: the matching manifest of
// an index, or the image itself when its os and architecture match.
func (b *pulledBase) image(p v1.Platform) (v1.Image, error) {
	if b.desc.MediaType.IsIndex() {
		idx, err := b.desc.ImageIndex()
		if err != nil {
			return nil, err
		}
		m, err := idx.IndexManifest()
		if err != nil {
			return nil, fmt.Errorf("base %s: read index: %w", b, err)
		}
		var have []string
		for _, c := range m.Manifests {
			if c.Platform == nil {
				continue
			}
			if c.Platform.Satisfies(p) && c.MediaType.IsImage() {
				img, err := idx.Image(c.Digest)
				if err != nil {
					return nil, fmt.Errorf("base %s for %s: %w", b, p.String(), err)
				}
				return img, nil
			}
			have = append(have, c.Platform.String())
		}
		return nil, fmt.Errorf("%w: base %s has no %s image (it has %s): build for those platforms or choose another base", ErrBadInput, b, p.String(), strings.Join(have, ", "))
	}
	if !b.desc.MediaType.IsImage() {
		return nil, fmt.Errorf("%w: base %s is a %s, not an image or an image index", ErrBadInput, b, b.desc.MediaType)
	}
	img, err := b.desc.Image()
	if err != nil {
		return nil, fmt.Errorf("base %s: %w", b, err)
	}
	return img, nil
}
