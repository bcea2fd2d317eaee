#!/usr/bin/env bash
# On-demand benchmark of image_load: img's incremental load into containerd
# versus `docker load` of the full docker-save tarball, after a small layer
# changed. Writes docs/benchmarks/load.md. Not part of the test suite; run
# tools/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
exec go test -tags 'e2e bench' -count=1 -timeout 30m -run 'TestLoadBenchmark' -v ./e2e/
