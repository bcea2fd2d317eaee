"""rules_docker's container_load on rules_img: a docker-save tarball as `@NAME//image`."""

# buildifier: disable=bzl-visibility
load("//img/private:container_load.bzl", _container_load = "container_load")

container_load = _container_load
