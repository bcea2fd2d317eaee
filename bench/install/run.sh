#!/usr/bin/env bash
# On-demand benchmark of installing rules_img: a fresh output base to the
# first image and the first `bazel run :load`, prebuilt img against img built
# from source, for a workspace without Go and for the Go example; and, for the
# Go example, the same with rules_img as it was before img was prebuilt (a
# worktree of BEFORE, default the last commit that compiled img with rules_go).
# Writes docs/benchmarks/install.md. Not part of the test suite; run
# tools/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
BEFORE=${BEFORE:-6e016fb}
tree=$(mktemp -d /var/tmp/rules_img_bench_before.XXXXXX)
cleanup() {
	(cd "$tree/examples/go_service" 2>/dev/null && bazel clean --expunge >/dev/null 2>&1) || true
	git worktree remove --force "$tree" 2>/dev/null || rm -rf "$tree"
}
trap cleanup EXIT
git worktree add --detach "$tree" "$BEFORE" >/dev/null
BEFORE_CHECKOUT=$tree go test -tags 'e2e bench' -count=1 -timeout 60m -run 'TestInstallBenchmark' -v ./e2e/
