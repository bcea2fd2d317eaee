"""Load rules: image_load."""

load("//img/private:image_load.bzl", _image_load = "image_load")

image_load = _image_load
