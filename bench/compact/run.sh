#!/usr/bin/env bash
# On-demand measurement of compact layers: the bytes buildbox-casd holds after
# a build without the bytes of the e2e workspace's push and load, with and
# without --@rules_img//img/settings:experimental_compact_layers (both push
# and load the same digests). Writes docs/benchmarks/compact-layers.md. Not
# part of the test suite; run tools/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
exec go test -tags 'e2e bench' -count=1 -timeout 60m -run 'TestCompactLayersBenchmark' -v ./e2e/
