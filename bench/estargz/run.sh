#!/usr/bin/env bash
# On-demand benchmark of eStargz: time from the start of a pull to the end of
# a container's one line of output, lazily with the stargz snapshotter
# against an ordinary gzip pull, on a 256 MiB layer over loopback; and the
# cost of writing the layer as eStargz against plain gzip (time and size).
# Writes docs/benchmarks/estargz.md. Not part of the test suite; run
# tools/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
exec go test -tags 'e2e bench' -count=1 -timeout 60m -run 'TestEStargzBenchmark' -v ./e2e/
