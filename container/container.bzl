"""rules_docker's container rules on rules_img: change `@io_bazel_rules_docker//container:container.bzl` to `@rules_img//container:container.bzl`."""

# The door's rules live beside rules_img's own in img/private, whose
# internals they share; this file only re-exports them.
# buildifier: disable=bzl-visibility
load("//img/private:container_bundle.bzl", _container_bundle = "container_bundle")

# buildifier: disable=bzl-visibility
load("//img/private:container_flatten.bzl", _container_flatten = "container_flatten")

# buildifier: disable=bzl-visibility
load("//img/private:container_image.bzl", _container_image = "container_image")

# buildifier: disable=bzl-visibility
load("//img/private:container_import.bzl", _container_import = "container_import")

# buildifier: disable=bzl-visibility
load("//img/private:container_layer.bzl", _container_layer = "container_layer")

# buildifier: disable=bzl-visibility
load("//img/private:container_load.bzl", _container_load = "container_load")

# buildifier: disable=bzl-visibility
load("//img/private:container_pull.bzl", _container_pull = "container_pull")

# buildifier: disable=bzl-visibility
load("//img/private:container_push.bzl", _container_push = "container_push")

container_bundle = _container_bundle
container_flatten = _container_flatten
container_image = _container_image
container_import = _container_import
container_layer = _container_layer
container_load = _container_load
container_pull = _container_pull
container_push = _container_push
