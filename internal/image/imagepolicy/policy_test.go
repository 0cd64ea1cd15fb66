package imagepolicy_test

import (
	"errors"
	"sort"
	"strings"
	"testing"

	"github.com/smp/delivery/internal/image/imagepolicy"
)

const pin = "@sha256:0000000000000000000000000000000000000000000000000000000000000001"

func rules(fs []imagepolicy.Finding) string {
	var r []string
	for _, f := range fs {
		r = append(r, f.Rule)
	}
	sort.Strings(r)
	return strings.Join(r, ",")
}

func TestImageReferences(t *testing.T) {
	t.Parallel()
	d := "@sha256:" + strings.Repeat("a", 64)
	tests := []struct{ ref, want string }{
		{"ghcr.io/smp/order-svc:3.3.0" + d, ""},
		{"ghcr.io/smp/order-svc" + d, ""},
		{"ghcr.io/smp/order-svc:3.3.0", "digest-pinned"},
		{"ghcr.io/smp/order-svc:latest" + d, "no-latest"},
		{"ghcr.io/smp/order-svc", "digest-pinned,no-latest"},
		{"ghcr.io/smp/order-svc:main", "digest-pinned,no-latest"},
		{"docker.io/library/nginx:1.27" + d, "registry-allowed"},
		{"ghcr.io/smpx/order-svc:1.0.0" + d, "registry-allowed"},
		{"ghcr.io/SMP/order-svc:1.0.0", "reference"},
		{"ghcr.io/smp/order svc:1.0.0", "reference"},
	}
	for _, tc := range tests {
		if got := rules(imagepolicy.CheckImage(tc.ref, imagepolicy.Default())); got != tc.want {
			t.Errorf("%s: findings %q, want %q", tc.ref, got, tc.want)
		}
	}
}

func TestDockerfiles(t *testing.T) {
	t.Parallel()
	seed := `# Build stage
FROM golang:1.22-alpine AS builder
RUN apk add --no-cache git ca-certificates
WORKDIR /app
COPY . .
RUN CGO_ENABLED=0 GOOS=linux go build \
    -ldflags="-w -s" \
    -o /app/server ./cmd/server
# Runtime stage
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=builder /app/server /app/server
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/app/server"]
`
	tests := []struct{ name, file, want string }{
		{"the seed's Dockerfile pins nothing", seed, "base-pinned,base-pinned"},
		{"pinned bases pass", strings.ReplaceAll(strings.ReplaceAll(seed, "1.22-alpine", "1.22-alpine"+pin), ":nonroot\n", ":nonroot"+pin+"\n"), ""},
		{"alpine with a non-root user passes", "FROM alpine:3.20" + pin + "\nUSER 65532:65532\n", ""},
		{"no USER on alpine runs as root", "FROM alpine:3.20" + pin + "\n", "user-nonroot"},
		{"USER root is refused", "FROM gcr.io/distroless/static-debian12" + pin + "\nUSER root\n", "user-nonroot"},
		{"USER 0:0 is refused", "FROM gcr.io/distroless/static-debian12" + pin + "\nUSER 0:0\n", "user-nonroot"},
		{"ubuntu is not an allowed base", "FROM ubuntu:24.04" + pin + "\nUSER app\n", "base-allowed"},
		{"latest is refused", "FROM alpine:latest\nUSER app\n", "base-pinned,no-latest"},
		{"an implicit latest is refused", "from alpine\nuser app\n", "base-pinned,no-latest"},
		{"an ARG default is substituted", "ARG BASE=alpine:3.20" + pin + "\nFROM ${BASE}\nUSER app\n", ""},
		{"an ARG without default is not pinned", "ARG BASE\nFROM $BASE\nUSER app\n", "base-pinned"},
		{"COPY --from an unpinned image", "FROM alpine:3.20" + pin + "\nCOPY --from=busybox:1.36 /bin/true /true\nUSER app\n", "base-pinned"},
		{"scratch has no users", "FROM scratch\nCOPY x /x\n", "base-allowed,user-nonroot"},
		{"a heredoc body is not read as instructions", "FROM alpine:3.20" + pin + "\nRUN <<EOF\nUSER root\nEOF\nUSER app\n", ""},
		{"the escape directive is honoured", "# escape=`\nFROM alpine:3.20" + pin + " `\n  AS run\nUSER app\n", ""},
	}
	for _, tc := range tests {
		fs, err := imagepolicy.CheckDockerfile("Dockerfile", []byte(tc.file), imagepolicy.Default())
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := rules(fs); got != tc.want {
			t.Errorf("%s: findings %q, want %q: %v", tc.name, got, tc.want, fs)
		}
		for _, f := range fs {
			if !strings.HasPrefix(f.Where, "Dockerfile:") || f.Fix == "" {
				t.Errorf("%s: finding without place or fix: %+v", tc.name, f)
			}
		}
	}
	for _, bad := range []string{"", "# just a comment\n", "USER app\nFROM alpine\n", "FROM\n", "FROM alpine\nRUN <<EOF\necho\n", "# escape=x\nFROM alpine\n"} {
		if _, err := imagepolicy.CheckDockerfile("Dockerfile", []byte(bad), imagepolicy.Default()); !errors.Is(err, imagepolicy.ErrBadInput) {
			t.Errorf("%q: err = %v, want ErrBadInput", bad, err)
		}
	}
}

func FuzzCheckDockerfile(f *testing.F) {
	f.Add([]byte("FROM alpine:3.20\nUSER app\n"))
	f.Add([]byte("ARG B=x\nFROM ${B:-y} AS a\nCOPY --from=a / /\n"))
	f.Add([]byte("# escape=`\nFROM a `\n b\nRUN <<EOF\nx\nEOF\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fs, err := imagepolicy.CheckDockerfile("Dockerfile", b, imagepolicy.Default())
		if err != nil && !errors.Is(err, imagepolicy.ErrBadInput) {
			t.Fatalf("an error that is not ErrBadInput: %v", err)
		}
		for _, f := range fs {
			if f.Rule == "" || f.Where == "" {
				t.Fatalf("empty finding %+v", f)
			}
		}
	})
}
