#!/usr/bin/env bash
# The README's main job: build the example image, show its outputs, run it.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=local
exec go run ./tools/demo "$@"
