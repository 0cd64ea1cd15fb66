# The two commands a newcomer needs (README.md): `make demo` and `make test`.
# Both install what is missing (scripts/tools.sh) and are safe to re-run.
.PHONY: demo test test-trivy build tools fuzz bench clean

GO ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -X github.com/smp/delivery/internal/version.Version=$(VERSION) \
	-X github.com/smp/delivery/internal/version.Commit=$(COMMIT) \
	-X github.com/smp/delivery/internal/version.Date=$(DATE)

# `make demo KEEP=1` is `smpctl demo --keep`: it leaves the local environment
# running and prints the dashboard's URL. ARGS passes any other flag of
# smpctl demo (ARGS='--engines kubernetes'). `make demo --keep` cannot mean
# that: make reads --keep as its own --keep-going (-k) and never passes it on,
# and -k in MAKEFLAGS looks the same as `make -k demo`. Rather than let the
# demo silently stop everything at its end, it says what make did.
KEEP ?=
ARGS ?=
DEMO_FLAGS = $(if $(filter-out 0,$(KEEP)),--keep) $(ARGS)
demo: build
	$(if $(findstring k,$(firstword -$(MAKEFLAGS))),$(if $(filter --keep,$(DEMO_FLAGS)),,@echo "make: -k/--keep is make's own --keep-going, not smpctl demo --keep: to leave the demo running and print the dashboard URL, run make demo KEEP=1" >&2))
	scripts/demo.sh $(DEMO_FLAGS)

test:
	scripts/test.sh

build:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/smpctl ./cmd/smpctl

tools:
	scripts/tools.sh

# The reusable CI's `trivy fs` step, run offline on examples/order-svc. Not in
# `make test`: building trivy costs ~17 CPU-minutes (docs/workflows.md).
test-trivy:
	PATH="$$(scripts/tools.sh trivy):$$PATH" && cd internal/workflow && \
		GOWORK=off $(GO) test -tags integration,trivy -count=1 -run TestTrivyFsStep ./...

# Run each fuzz target for a short while; the corpus stays under testdata/fuzz.
fuzz:
	$(GO) test ./internal/plan -run '^$$' -fuzz FuzzPlan -fuzztime 30s
	$(GO) test ./internal/local/cluster -run '^$$' -fuzz FuzzParseServiceFile -fuzztime 30s
	$(GO) test ./internal/semver -run '^$$' -fuzz FuzzParse -fuzztime 30s
	$(GO) test ./internal/conventional -run '^$$' -fuzz FuzzParse -fuzztime 30s
	$(GO) test ./internal/release -run '^$$' -fuzz FuzzInsertSection -fuzztime 30s
	$(GO) test ./internal/gitops/history -run '^$$' -fuzz FuzzParseMessage -fuzztime 30s
	$(GO) test ./internal/gitops/delivery -run '^$$' -fuzz FuzzEdit -fuzztime 30s
	$(GO) test ./internal/gitops/envfile -run '^$$' -fuzz FuzzSet -fuzztime 30s
	$(GO) test ./internal/gitops/delivery -run '^$$' -fuzz 'FuzzParse$$' -fuzztime 30s
	$(GO) test ./internal/gitops/freeze -run '^$$' -fuzz FuzzWeeklyWindow -fuzztime 30s
	$(GO) test ./internal/migration -run '^$$' -fuzz FuzzClassifyGeneratedDDL -fuzztime 30s
	$(GO) test ./internal/image/imageref -run '^$$' -fuzz 'FuzzParse$$' -fuzztime 30s

bench:
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean:
	rm -rf bin .cache
