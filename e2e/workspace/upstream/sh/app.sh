#!/bin/sh
# Runs from its runfiles' main repository directory (image_from_binary's
# working directory).
cat upstream/sh/greeting.txt
head -1 ../bazel_skylib~/MODULE.bazel
