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
	# In a subshell of its own, outside any if or ||: there set -e holds, so
	# a failing command inside a step fails it (inside an if, bash ignores
	# set -e, and a gofmt parse error once passed the format step).
	local rc=0
	set +e
	(
		set -e
		"$@"
	)
	rc=$?
	set -e
	if [ "$rc" = 0 ]; then
		timings+=("$(printf '%-22s ok   %4ds' "$name" $((SECONDS - start)))")
	else
		timings+=("$(printf '%-22s FAIL %4ds' "$name" $((SECONDS - start)))")
		failed+=("$name")
	fi
}

# Tracked and new (not ignored) files, so a fresh clone and a work tree agree.
files() { git ls-files --cached --others --exclude-standard -- "$@" | while read -r f; do if [ -f "$f" ]; then echo "$f"; fi; done; }

check_gofmt() {
	local bad
	bad=$(files '*.go' | xargs -r gofmt -l)
	[ -z "$bad" ] && return 0
	echo "gofmt: these files need formatting (run: gofmt -w FILE):"
	echo "$bad"
	return 1
}

check_govet() { go vet ./... && go vet -tags bazel ./img/... && go vet -tags e2e ./e2e/...; }

check_buildifier() {
	files '*.bzl' '*.bazel' '*BUILD' 'MODULE.bazel' | xargs -r buildifier -mode=check -lint=warn -v=false || {
		echo "buildifier: run 'buildifier -lint=fix FILE' on the files above"
		return 1
	}
}

# BUILD files for Go code are gazelle's: fail when they are out of date.
check_gazelle() { bazel run //:gazelle -- -mode=diff; }

# Every relative link in the Markdown files names a file, and every #anchor a
# heading or <a id> of its target.
check_doc_links() { files '*.md' | xargs -r go run ./tools/doclinks; }

# The servers' packages also under the race detector: they serve many
# clients at once.
unit_tests() { go test ./... && go test -race ./pkg/bes ./pkg/casreg ./pkg/cas; }

# Every fuzz target for a few seconds of new inputs (go test already ran the
# checked-in corpora).
fuzz_tests() { FUZZTIME=${FUZZTIME:-3s} ./tools/fuzz.sh; }

bazel_tests() { bazel test //...; }

# The e2e suite needs room for output bases, daemons' data roots and
# registries. Leftovers of earlier runs are removed first: pull workspaces of
# checkouts that no longer exist (with their output bases), and temp dirs
# older than the e2e timeout. A full disk fails here, saying so, instead of
# as an obscure "no space left" in the middle of a test.
E2E_MIN_FREE_GB=${RULES_IMG_E2E_MIN_FREE_GB:-12}
e2e_disk() {
	local user_root d root ob free
	user_root=${XDG_CACHE_HOME:-$HOME/.cache}/bazel/_bazel_$(id -un)
	for d in /var/tmp/rules_img_e2e_pull-*; do
		[ -f "$d/root" ] || continue
		root=$(cat "$d/root")
		[ -d "$root" ] && continue
		ob=$user_root/$(printf %s "$d/ws" | md5sum | cut -c1-32)
		echo "removing the e2e pull workspace of $root (checkout gone): $d $ob"
		chmod -R u+w "$d" "$ob" 2>/dev/null || true
		rm -rf "$d" "$ob"
	done
	find /var/tmp -maxdepth 1 -name 'rules_img_e2e_*-*' ! -name 'rules_img_e2e_pull-*' -mmin +120 -print0 |
		while IFS= read -r -d '' d; do
			echo "removing a stale e2e temp dir: $d"
			chmod -R u+w "$d" 2>/dev/null || true
			rm -rf "$d"
		done
	free=$( (df -P -BG /var/tmp "$user_root" 2>/dev/null || true) | awk 'NR>1 {gsub("G","",$4); if (min == "" || $4 < min) min = $4} END {print min}')
	if [ "${free:-0}" -lt "$E2E_MIN_FREE_GB" ]; then
		echo "e2e needs ${E2E_MIN_FREE_GB} GiB free in /var/tmp and $user_root; ${free:-0} GiB are."
		echo "The largest Bazel output bases (remove those of workspaces you no longer use with 'bazel clean --expunge' there):"
		du -xsh "$user_root"/*/ 2>/dev/null | sort -h | tail -5 | while read -r size base; do
			echo "  $size $base ($(cat "$base/DO_NOT_BUILD_HERE" 2>/dev/null))"
		done
		return 1
	fi
	echo "${free} GiB free"
}

e2e_tests() { go test -tags e2e -count=1 -timeout 60m -v ./e2e/...; }

step gofmt check_gofmt
step "go vet" check_govet
step buildifier check_buildifier
step gazelle check_gazelle
step "doc links" check_doc_links
step "go test" unit_tests
step fuzz fuzz_tests
step "bazel test" bazel_tests
step "e2e disk" e2e_disk
step e2e e2e_tests

printf '\n=== summary\n'
printf '%s\n' "${timings[@]}"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'FAILED: %s\n' "${failed[*]}"
	exit 1
fi
echo "all tests passed"
