#!/usr/bin/env bash
# On-demand soak and fault runs of the servers: img registry on buildbox-casd
# with 50 clients for MINUTES (default 10) while casd restarts twice and the
# registry once; img bes pushing 200 images while the registry answers 503 to
# every fifth request. Writes docs/benchmarks/soak.md. Not part of the test
# suite; run tools/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
export SOAK_MINUTES="${1:-10}"
exec go test -tags 'e2e bench' -count=1 -timeout 120m -run 'TestRegistrySoak|TestBESFleetUnderFaults' -v ./e2e/
