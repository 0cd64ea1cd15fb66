#!/usr/bin/env bash
# test.sh is `make test`: every check CI runs, on every module.
# It installs what is missing (scripts/tools.sh), checks gofmt, then runs in
# parallel — because most test time is spent waiting on git, MariaDB, Redis
# and child processes, not on the CPU — four suites:
#   lint:    golangci-lint on every module (go vet's analyzers run as its govet)
#   race:    the root module's packages that run goroutines (race_packages):
#            unit + integration tests with -race and coverage
#   modules: the other modules, with -race: internal/workflow, whose tests
#            run the reusable CI's lint and test jobs on examples/order-svc:
#            those jobs are that module's lint and tests (race, coverage
#            gate), so they are not run a second time here; the job's
#            coverage profile is reported below
#   plain:   the root module's other packages, the same without -race.
# (internal/workflow used to follow the race suite: measured on a fresh
# clone of 08fcc0c, the race suite's packages took 540 s, then
# internal/workflow 204 s after them, with the machine at 157% CPU of 200%
# over the run; plain and lint were done at 451 s. Side by side, the whole
# run on a fresh clone with warm caches: 13m41s at 143% CPU before, 9m58s
# at 185% after. With the slowest tests overlapped and -trimpath: 9m07s,
# 1,014 CPU-s at 185%, of which 849 in test binaries: the suites now end
# together and the run is bound by CPU; "where the CPU went" at the end
# says in which packages.)
# Each suite writes its log to .cache/test-<suite>.log; the logs are printed
# in order at the end with the time each suite took, then the coverage gate.
# What tests save with t.ArtifactDir (the dashboard's browser screenshots) is
# kept under .cache/artifacts/_artifacts/, replaced each run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
SMP_TOOLS=$(scripts/tools.sh)
export SMP_TOOLS PATH="$SMP_TOOLS:$PATH"
COVER_MIN=${COVER_MIN:-60}
# -trimpath for every go command here and in the tests (their `go build`s
# inherit it): without it the build cache keys each of this module's
# packages by its directory, so a fresh clone elsewhere recompiles all of
# them, -race and coverage variants included, although nothing changed
# (measured: building the race suite's nine largest packages took 33.6 s in a
# fresh clone against 19.8 s in the clone that filled the cache). Tests find
# their files from their working directory (internal/testkit/checkout),
# never from runtime.Caller, whose file names -trimpath turns into import
# paths.
# -ldflags=-w leaves DWARF out of the test binaries (and of what tests build
# without their own -ldflags): nothing here runs a debugger, and stack traces
# come from the symbol table, which stays. Linking the root module's 58 test
# binaries then took 96 CPU-s against 125 (go test -c of each, warm cache).
export GOFLAGS="-trimpath -ldflags=-w${GOFLAGS:+ $GOFLAGS}"
# Modules in go.work, plus modules kept out of it because their dependencies
# cannot share its build list: internal/workflow needs actionlint v1.7.12,
# built against go.yaml.in/yaml/v4 v4.0.0-rc.3, while kin-openapi
# (examples/order-svc) needs v4.0.0. Those run alone with GOWORK=off.
modules=$(go work edit -json | sed -n 's/.*"DiskPath": "\(.*\)".*/\1/p')
isolated="internal/workflow"
# Modules checked by internal/workflow's TestReusableCIStepsPassOnOrderSvc,
# which runs the reusable CI's lint and test jobs on them.
ci_checked="examples/order-svc"
start=$(date +%s)
mkdir -p .cache
rm -rf .cache/cover-*.out .cache/test-*.json .cache/artifacts
# Every test binary runs under scripts/testcpu (as go test -exec would), which
# records the CPU it and the processes it waited for used; the end of the
# run sets that against the run's total (see "where the CPU went").
go build -o .cache/testcpu ./scripts/testcpu
# The suites' test binaries are built into a directory kept between runs
# and clones (scripts/gotestbin), where go leaves an up-to-date binary alone:
# go test links every test binary again on every run (50 CPU-s of a warm
# run's 675, process accounting, 2026-12-06). go checks each binary's build
# ID, so a change rebuilds what it touches; removing the directory costs one
# run the links. test2json turns their output into go test -json's events.
go build -o .cache/gotestbin ./scripts/gotestbin
go build -o .cache/test2json cmd/test2json
testbin=${SMP_TESTBIN_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/smp-delivery/testbin}
export SMP_TEST_CPU="$root/.cache/test-cpu.json"
mkdir -p .cache/artifacts # -artifacts makes only its _artifacts folder
# internal/workflow's CI test job writes examples/order-svc's profile here.
export SMP_COVERAGE_OUT="$root/.cache/cover-order-svc.out"
fail=0

printf '== gofmt\n'
mapfile -t gofiles < <(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.cache/*')
unformatted=$(gofmt -l "${gofiles[@]}")
if [[ -n "$unformatted" ]]; then
	echo "gofmt would change (run gofmt -w): $unformatted"
	fail=1
fi

gowork_for() { if [[ " $isolated " == *" $1 "* ]]; then echo off; fi; }
ci_checked_() { [[ " $ci_checked " == *" ${1#./} "* ]]; }

lint() {
	local m rc=0 gw
	for m in $modules $isolated; do
		ci_checked_ "$m" && continue
		gw=$(gowork_for "$m")
		# go vet's analyzers run as golangci-lint's govet (its default set
		# is go vet's): a separate go vet type-checked every package again.
		echo "-- golangci-lint, with go vet's analyzers ($m)"
		(cd "$m" && GOWORK=$gw golangci-lint run --allow-parallel-runners \
			--config "$root/.golangci.yml" --build-tags integration ./...) || rc=1
	done
	# The project's own shell scripts (1 CPU-s): actionlint already checks
	# the workflows' run: steps with shellcheck, and nothing checked these.
	echo "-- shellcheck (scripts, benchmarks, .ci/run)"
	local scripts
	# Outside a git checkout (an exported tree), found as gofmt's files are.
	mapfile -t scripts < <(git ls-files '*.sh' .ci/run 2>/dev/null || find . -name '*.sh' -not -path './.cache/*' -o -path ./.ci/run)
	shellcheck "${scripts[@]}" || rc=1
	return $rc
}

# pkg_timeout is each test binary's deadline (go test -timeout), from which
# the tests derive every wait of theirs (testctx): no test has a fixed
# timeout of its own. It must hold a fresh machine, where the tests' own
# go builds (test servers, order-svc images, the demo's services) compile
# from an empty cache under the four suites: measured on one, internal/cli
# ran 1,134 s before its scripts hit the former 20m (load average near 30
# on 2 cores). Warm, the slowest package took ~4 min on one machine and
# 19 min on a slower one (internal/workflow, 2026-12-06); a hang still ends
# the run within CI's 90 minutes.
pkg_timeout=45m

# Every go test below runs with -vet=off: go test's own vet step (a subset
# of go vet's analyzers) checks what the lint suite's govet already checks
# with all of them, tests and the integration tag included (.golangci.yml:
# tests: true). On a fresh machine that step cost 127 CPU-s in 2,849 vet
# processes (bench/testcpu/by-process.sh, 2026-12-06); warm, vet's results
# come from the build cache. (The go tests the tests run, such as the
# reusable CI's test job on order-svc, keep their vet step.)
#
# gotest_json NAME GOTESTBIN-ARGS... PACKAGES...: go test as
# scripts/gotestbin does it (binaries kept in $testbin/NAME, each run under
# scripts/testcpu), through gotestsum, which prints what go test prints and
# keeps every test's events in .cache/test-NAME.json, from which the end of
# the run says where the time went.
gotest_json() {
	local name=$1; shift
	gotestsum --format standard-quiet --jsonfile "$root/.cache/test-$name.json" --raw-command -- \
		"$root/.cache/gotestbin" -test2json "$root/.cache/test2json" -exec "$root/.cache/testcpu" -bin "$testbin/$name" "$@"
}

# race_build are the go test -c flags of a -race build. The race detector
# makes compression several times slower, and the tests compress and
# decompress image layers (pgzip, go-containerregistry, the local runtime's
# pulls): a CPU profile of internal/image's tests under -race had 85% of
# their time in compress/flate's loops and the detector's checks on them.
# Those two flate packages (the standard library's and klauspost's, one
# goroutine per stream, buffers handed over by pgzip and gzip, which stay
# instrumented) are compiled without the detector; everything around them
# keeps it. Measured side by side, each test binary alone, warm: internal/
# image 46.9 -> 20.5 CPU-s, internal/local/cluster 67.8 -> 50.6.
race_build="-race -gcflags=compress/flate=-race=false -gcflags=github.com/klauspost/compress/flate=-race=false"

# gotest MODULE: unit and integration tests (-tags integration runs both),
# with -race, and writes the coverage profile for the gate.
gotest() {
	local m=$1 name gw
	name=$(basename "$m"); [[ $m == . ]] && name=smpctl
	gw=$(gowork_for "$m")
	echo "-- go test -race -tags integration ($m${gw:+, GOWORK=off})"
	(cd "$m" && GOWORK=$gw gotest_json "$name" -p 4 -tags integration -build "$race_build -vet=off -coverpkg=./..." \
		-run "-test.count=1 -test.timeout=$pkg_timeout" -coverprofile "$root/.cache/cover-$name.out" ./...)
}

# race_packages prints the root packages whose code or tests start
# goroutines or share state under a lock (sync.Mutex, WaitGroup, ...): the
# ones the race detector can find something in. A package whose only use of
# sync is a sync.Once* (a lazily computed value) has nothing for it to find. It makes every process several times slower (measured alone
# on this 2-core machine: internal/cli's testscripts 230 s with -race against
# 70 s without, signing 111/31, vulnscan 83/35, helmrender 52/6), so the
# packages that run one goroutine at a time (in-process or in subprocesses)
# run without it.
#
# slow_first are the packages whose tests take longest (measured on a fresh
# clone of 08fcc0c: kube 321 s, cli 300 s, gitops/write 149 s, demo 146 s,
# image 145 s, dashboard 135 s, local/cluster 124 s, newservice 92 s): go
# test starts the packages it runs in the order it is given them, and kube,
# fourteenth of the race packages alphabetically, started at 219 s and
# ended the suite at 540 s. Started first, the longest ones overlap the
# rest.
slow_first="internal/kube internal/cli internal/gitops/write internal/demo internal/image internal/dashboard internal/local/cluster internal/newservice"

# race_exempt are packages whose only goroutines are in a test driving code
# another package race-tests: internal/cli's dashboard test runs the
# dashboard command in a goroutine, and internal/dashboard runs the same
# server under -race; -race would triple the CLI's testscripts (measured:
# 769 s against 251 s). internal/kube's code starts no goroutine and holds
# no lock; its tests run the CLI and the demo in-process against clusters
# (internal/cli, internal/demo and internal/verify race-test that code),
# and one promote test races a stand-in controller in a goroutine of its
# own. Most of its CPU is the clusters' (measured alone: 133 CPU-s with
# -race against 106 without, 220 s against 170 s).
# internal/testkit/kubeschema's one lock guards its lazily loaded default
# Validator (a sync.Once that retries a failed load), and its tests parse
# megabytes of OpenAPI JSON, which the detector makes 7 times dearer
# (measured side by side, the test binary alone: 8.1 CPU-s with -race,
# 1.2 without).
# internal/image/vulnscan's code starts no goroutine and holds no lock; its
# one concurrent test has four goroutines build the vulnerability database
# into one cache directory, which share nothing in memory (each builds in a
# directory of its own and renames it into place: what the test checks is
# the file system's outcome), and the detector made the test binary's
# indexing of 4,000 OSV entries dearer: 24.8 CPU-s with -race, 18.7 without
# (the test binary alone, side by side, 2026-12-07).
race_exempt=" github.com/smp/delivery/internal/cli github.com/smp/delivery/internal/kube github.com/smp/delivery/internal/testkit/kubeschema github.com/smp/delivery/internal/image/vulnscan "
race_packages() {
	go list -tags integration -f '{{.ImportPath}} {{.Dir}} {{join .GoFiles " "}} {{join .TestGoFiles " "}} {{join .XTestGoFiles " "}}' ./... |
		while read -r ip dir files; do
			[[ $race_exempt == *" $ip "* ]] && continue
			# $files is the package's Go file names (no spaces), one word each.
			# shellcheck disable=SC2086
			[[ -n $files ]] && (cd "$dir" && grep -qE '^\s*go [[:alpha:]_(]|sync\.(Mutex|RWMutex|WaitGroup|Map|Cond)|errgroup|\.Go\(' $files) && echo "$ip"
		done
	return 0
}

# rootgo KIND FLAGS...: the root module's race or plain packages
# (race_packages), with coverage counted atomically in both so that the two
# profiles merge, and their t.ArtifactDir files kept (-artifacts) under
# .cache/artifacts.
rootgo() {
	local kind=$1 racy p group all pkgs=() race=
	shift
	[[ $kind == race ]] && race=$race_build
	racy=" $(race_packages | tr '\n' ' ') "
	all=$(go list ./...)
	# slow_first, then the rest; a name no longer listed is left out.
	for p in $( (for s in $slow_first; do grep -x "github.com/smp/delivery/$s" <<<"$all" || true; done; echo "$all") | awk '!seen[$0]++'); do
		group=plain
		[[ $racy == *" $p "* ]] && group=race
		[[ $group == "$kind" ]] && pkgs+=("$p")
	done
	echo "-- go test $race $* -tags integration (root module, ${#pkgs[@]} packages)"
	gotest_json "smpctl-$kind" "$@" -tags integration -build "$race -vet=off -covermode=atomic -coverpkg=./..." \
		-run "-test.count=1 -test.timeout=$pkg_timeout -test.artifacts -test.outputdir=$root/.cache/artifacts" \
		-coverprofile "$root/.cache/cover-smpctl-$kind.out" "${pkgs[@]}"
}

others() {
	local m rc=0
	for m in $modules $isolated; do
		[[ $m == . ]] && continue
		ci_checked_ "$m" && continue
		gotest "$m" || rc=1
	done
	return $rc
}

# Four suites at once, each running one go test at a time: the root
# packages with goroutines under -race; the other modules; the root's
# other packages; lint. (internal/workflow as a fourth suite was measured
# slower once, 9m37s against 8m45s, when the suites kept both cores busy to
# the end; since then the race suite's tail ran alone: see the top.)
suites="race modules plain lint"
declare -A pids began
for suite in $suites; do
	began[$suite]=$(date +%s)
	(
		rc=0
		case $suite in
		lint) lint || rc=$? ;;
		race) rootgo race -p 4 || rc=$? ;;
		modules) others || rc=$? ;;
		plain) rootgo plain -p 2 || rc=$? ;;
		esac
		echo $(( $(date +%s) - began[$suite] )) >".cache/test-$suite.took"
		exit $rc
	) >".cache/test-$suite.log" 2>&1 &
	pids[$suite]=$!
done
for suite in $suites; do
	rc=0
	wait "${pids[$suite]}" || rc=$?
	took=$(cat ".cache/test-$suite.took" 2>/dev/null || echo "?")
	printf '\n== %s (%ss, exit %s)\n' "$suite" "$took" "$rc"
	# Passing packages with no tests are noise; everything else is shown.
	grep -v -E '^\s+\S+\s+coverage: 0.0% of statements$|no test files' ".cache/test-$suite.log" || true
	[[ $rc == 0 ]] || fail=1
done
if [[ -s .cache/cover-smpctl-race.out && -s .cache/cover-smpctl-plain.out ]]; then
	{ cat .cache/cover-smpctl-race.out; tail -n +2 .cache/cover-smpctl-plain.out; } >.cache/cover-smpctl.out
fi

# Where the time went: the slowest packages and tests of every suite (each
# package's wall time under the suites' shared load, not alone).
printf '\n== slowest packages (wall time, seconds)\n'
cat .cache/test-*.json 2>/dev/null |
	jq -r 'select(.Test == null and (.Action == "pass" or .Action == "fail") and .Elapsed != null) | "\(.Elapsed)\t\(.Package | sub(".*/delivery/"; ""))"' |
	sort -rn | head -12 || true
printf '\n== slowest tests (top-level, seconds)\n'
cat .cache/test-*.json 2>/dev/null |
	jq -r 'select(.Test != null and (.Test | contains("/") | not) and (.Action == "pass" or .Action == "fail")) | "\(.Elapsed)\t\(.Package | sub(".*/delivery/"; "")) \(.Test)"' |
	sort -rn | head -15 || true

# Where the CPU went: each package's test binaries (with every process
# they started and waited for: clusters, git, smpctl, go builds of test
# servers) against the run's total, whose rest is compiling, linking, vet
# and lint. `times` prints this shell's and its children's user and system
# time; the suites are its reaped children.
cpu_seconds() { awk '{ n = 0; for (i = 1; i <= NF; i++) { split($i, a, /[ms]/); n += a[1] * 60 + a[2] } print n }'; }
times >.cache/test-times.txt # not in a pipe or $(…): a subshell's times are its own
total_cpu=$(tail -1 .cache/test-times.txt | cpu_seconds)
if [[ -s $SMP_TEST_CPU ]]; then
	tests_cpu=$(jq -s 'map(.user + .sys) | add' "$SMP_TEST_CPU")
	printf '\n== where the CPU went (user+sys seconds): run %.0f, test binaries %.0f, the rest (compile, link, vet, lint) %.0f\n' \
		"$total_cpu" "$tests_cpu" "$(awk -v a="$total_cpu" -v b="$tests_cpu" 'BEGIN { print a - b }')"
	jq -rs --arg root "$root/" 'group_by(.dir) | map({dir: (.[0].dir | ltrimstr($root)), cpu: (map(.user + .sys) | add)}) | sort_by(-.cpu) | .[:12][] | "\(.cpu | floor)\t\(.dir)"' "$SMP_TEST_CPU"
fi

printf '\n== coverage gate (%s%%)\n' "$COVER_MIN"
for m in $modules $isolated; do
	name=$(basename "$m"); [[ $m == . ]] && name=smpctl
	prof="$root/.cache/cover-$name.out"
	if [[ ! -s $prof ]]; then
		echo "coverage $name: no profile (its tests did not finish)"
		fail=1
		continue
	fi
	total=$(cd "$m" && GOWORK=$(gowork_for "$m") go tool cover -func="$prof" | awk '/^total:/ {sub("%","",$3); print $3}')
	# Integer arithmetic on tenths: no bc (the seed's gate needed it).
	if (( $(awk -v t="$total" 'BEGIN{printf "%d", t*10}') < COVER_MIN * 10 )); then
		echo "coverage $name: $total% — below the ${COVER_MIN}% gate"
		fail=1
	else
		echo "coverage $name: $total%"
	fi
done

printf '\n== done in %ss\n' "$(( $(date +%s) - start ))"
if [[ $fail != 0 ]]; then
	echo "make test: FAILED (see the suites above)"
	exit 1
fi
echo "make test: all checks passed"
