"""rules_docker's container rules on rules_img: change `@io_bazel_rules_docker//container:container.bzl` to `@rules_img//container:container.bzl`."""

# The door's rules live beside rules_img's own in img/private, whose
# internals they share; this file only re-exports them.
load("//container/private:bundle.bzl", _container_bundle = "container_bundle")
load("//container/private:image.bzl", _container_image = "container_image")
load("//container/private:import.bzl", _container_import = "container_import")
load("//container/private:layer.bzl", _container_layer = "container_layer")
load("//container/private:load.bzl", _container_load = "container_load")
load("//container/private:pull.bzl", _container_pull = "container_pull")
load("//container/private:push.bzl", _container_push = "container_push")
load("//img:tarball.bzl", _image_flatten = "image_flatten")

container_bundle = _container_bundle
container_flatten = _image_flatten
container_image = _container_image
container_import = _container_import
container_layer = _container_layer
container_load = _container_load
container_pull = _container_pull
container_push = _container_push
