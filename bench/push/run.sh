#!/usr/bin/env bash
# On-demand benchmark of image_push: img versus crane push of the same ~1 GiB
# image, cold and re-push, wall time and bytes uploaded. Writes
# docs/benchmarks/push.md. Not part of the test suite; run tools/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
exec go test -tags 'e2e bench' -count=1 -timeout 30m -run 'TestPushBenchmark' -v ./e2e/
