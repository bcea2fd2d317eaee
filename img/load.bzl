"""Load rules: image_load, and image_load_spec for images to carry (load_specs)."""

load("//img/private:image_load.bzl", _image_load = "image_load")
load("//img/private:image_load_spec.bzl", _image_load_spec = "image_load_spec")

image_load = _image_load
image_load_spec = _image_load_spec
