#!/usr/bin/env bash
# On-demand benchmark of pull(): shallow versus eager fetch + build time and
# bytes served, on the e2e base image. Writes docs/benchmarks/pull.md.
# Not part of the test suite; run tools/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
exec go test -tags 'e2e bench' -count=1 -timeout 60m -run 'TestPullBenchmark' -v ./e2e/
