#!/usr/bin/env bash
# On-demand benchmark of SOCI: writing a 256 MiB layer's ztoc with img's
# pure-Go generator against soci-snapshotter's own (zlib, cgo), and the time
# from the start of a pull to a container's one line of output, lazily with
# soci-snapshotter against an ordinary pull. Writes docs/benchmarks/soci.md.
# Not part of the test suite; run tools/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
exec go test -tags 'e2e bench' -count=1 -timeout 60m -run 'TestSociBenchmark' -v ./e2e/
