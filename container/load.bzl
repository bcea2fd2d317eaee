"""rules_docker's container_load on rules_img: a docker-save tarball as `@NAME//image`."""

load("//container/private:load.bzl", _container_load = "container_load")

container_load = _container_load
