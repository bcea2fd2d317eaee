#!/usr/bin/env bash
# Runs every Go fuzz target for a bounded time (FUZZTIME, default 3s each).
# Without -fuzz, `go test ./...` already runs each target's checked-in corpus
# (testdata/fuzz) and seeds; this adds a few seconds of new inputs per target.
# A failure leaves the input in testdata/fuzz/<target>/: commit it with the fix.
# --save-corpus copies up to 24 of the smallest inputs each fuzzer found
# interesting into testdata/fuzz/<target>/, to be committed.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
time=${FUZZTIME:-3s}
status=0
save=false
[ "${1:-}" = --save-corpus ] && save=true
cache=$(go env GOCACHE)/fuzz
fuzz_once() {
	go test -run '^$' -fuzz "^${1}\$" -fuzztime "$time" "$2" >/tmp/fuzz.$$.log 2>&1
}
for pkg in $(go list ./pkg/... ./cmd/...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort); do
		printf '%-28s %s\n' "$target" "${pkg#github.com/rules-img/rules_img/}"
		if ! fuzz_once "$target" "$pkg"; then
			# Go's fuzzing engine can stop a slow worker at the deadline with
			# "context deadline exceeded" and no failing input (seen on a busy
			# 2-core machine). A real finding writes its input and fails
			# again, so only that case gets one more run.
			if ! grep -q 'context deadline exceeded' /tmp/fuzz.$$.log || grep -q 'Failing input written' /tmp/fuzz.$$.log ||
				! fuzz_once "$target" "$pkg"; then
				cat /tmp/fuzz.$$.log
				status=1
			fi
		fi
		if $save && [ -d "$cache/$pkg/$target" ]; then
			mkdir -p "$dir/testdata/fuzz/$target"
			find "$cache/$pkg/$target" -type f -printf '%s %p\n' | sort -n | head -24 | cut -d' ' -f2- |
				xargs -r cp -t "$dir/testdata/fuzz/$target"
		fi
	done
done
rm -f /tmp/fuzz.$$.log
exit $status
