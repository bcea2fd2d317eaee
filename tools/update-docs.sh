#!/usr/bin/env bash
# Regenerates docs/rules.md from the rules' doc strings (stardoc), the page
# //docs:rules_md_test checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bazel build //docs:rules_md
install -m 0644 "$(bazel cquery --output=files //docs:rules_md 2>/dev/null)" docs/rules.md
echo "docs/rules.md updated"
