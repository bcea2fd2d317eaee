"""rules_docker's container_pull on rules_img: `@NAME//image`, pulled shallowly."""

load("//container/private:pull.bzl", _container_pull = "container_pull")

container_pull = _container_pull
