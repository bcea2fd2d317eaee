#!/bin/sh
# Workspace status for the stamping test.
echo "STABLE_E2E_TAG ${E2E_STAMP_VALUE:-unset}"
