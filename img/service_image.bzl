"""service_image: a *_binary as per-platform images, a multi-arch index, and push, load and tarball targets."""

load("//img/private:service_image.bzl", _service_image = "service_image")

service_image = _service_image
