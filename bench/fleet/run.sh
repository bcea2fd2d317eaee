#!/usr/bin/env bash
# On-demand fleet benchmark: N services (default 100; try 1000) sharing a
# go_binary layer, built on buildbox-casd with remote execution and pushed
# with the bes strategy and with multi_deploy (lazy, eager), each into a fresh
# registry, and with multi_deploy cas_registry into cmd/registry; then a no-op
# rebuild, one service changed and the shared binary changed. Writes docs/benchmarks/fleet-N.md. Not part of the test suite; run
# tools/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=local
export FLEET_N="${1:-100}"
exec go test -tags 'e2e bench' -count=1 -timeout 120m -run 'TestFleetBenchmark' -v ./e2e/
