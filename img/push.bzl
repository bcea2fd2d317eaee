"""Push rules: image_push, and image_push_spec for images to carry (push_specs)."""

load("//img/private:image_push.bzl", _image_push = "image_push")
load("//img/private:image_push_spec.bzl", _image_push_spec = "image_push_spec")

image_push = _image_push
image_push_spec = _image_push_spec
