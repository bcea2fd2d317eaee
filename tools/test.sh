#!/usr/bin/env bash
# Runs every test of rules_img: style checks, Go unit tests, Bazel tests in the
# root module, and the e2e harness that builds workspaces under e2e/ with real
# Bazel and checks the images with real registries and runtimes.
# Run tools/setup.sh first (the README's test command does).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CACHE=${RULES_IMG_CACHE:-/var/cache/rules_img}
export GOTOOLCHAIN=local PATH=$CACHE/bin:$PATH

failed=()
timings=()
step() {
	local name=$1 start=$SECONDS
	shift
	printf '\n=== %s\n' "$name"
	if "$@"; then
		timings+=("$(printf '%-22s ok   %4ds' "$name" $((SECONDS - start)))")
	else
		timings+=("$(printf '%-22s FAIL %4ds' "$name" $((SECONDS - start)))")
		failed+=("$name")
	fi
}

# Tracked and new (not ignored) files, so a fresh clone and a work tree agree.
files() { git ls-files --cached --others --exclude-standard -- "$@" | while read -r f; do [ -f "$f" ] && echo "$f"; done; }

check_gofmt() {
	local bad
	bad=$(files '*.go' | xargs -r gofmt -l)
	[ -z "$bad" ] && return 0
	echo "gofmt: these files need formatting (run: gofmt -w FILE):"
	echo "$bad"
	return 1
}

check_govet() { go vet ./... && go vet -tags e2e ./e2e/...; }

check_buildifier() {
	files '*.bzl' '*.bazel' '*BUILD' 'MODULE.bazel' | xargs -r buildifier -mode=check -lint=warn -v=false || {
		echo "buildifier: run 'buildifier -lint=fix FILE' on the files above"
		return 1
	}
}

# BUILD files for Go code are gazelle's: fail when they are out of date.
check_gazelle() { bazel run //:gazelle -- -mode=diff; }

unit_tests() { go test ./...; }

# Every fuzz target for a few seconds of new inputs (go test already ran the
# checked-in corpora).
fuzz_tests() { FUZZTIME=${FUZZTIME:-3s} ./tools/fuzz.sh; }

bazel_tests() { bazel test //...; }

e2e_tests() { go test -tags e2e -count=1 -timeout 60m -v ./e2e/...; }

step gofmt check_gofmt
step "go vet" check_govet
step buildifier check_buildifier
step gazelle check_gazelle
step "go test" unit_tests
step fuzz fuzz_tests
step "bazel test" bazel_tests
step e2e e2e_tests

printf '\n=== summary\n'
printf '%s\n' "${timings[@]}"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'FAILED: %s\n' "${failed[*]}"
	exit 1
fi
echo "all tests passed"
