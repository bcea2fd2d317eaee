"""pull: base images for image_manifest(base = ...), fetched shallowly.

Use from MODULE.bazel: pull = use_repo_rule("@rules_img//img:pull.bzl", "pull").
"""

load("//img/private:platform_image.bzl", _platform_image = "platform_image")
load("//img/private:pull.bzl", _apparent_name = "apparent_name", _pull = "pull", _pull_repository = "pull_repository")

pull = _pull
platform_image = _platform_image

# For repository rules that pull as pull() does, such as the rules_docker door's container_pull.
pull_repository = _pull_repository
apparent_name = _apparent_name
