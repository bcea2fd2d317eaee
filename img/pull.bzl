"""pull: base images for image_manifest(base = ...), fetched shallowly.

Use from MODULE.bazel: pull = use_repo_rule("@rules_img//img:pull.bzl", "pull").
"""

load("//img/private:pull.bzl", _pull = "pull")

pull = _pull
