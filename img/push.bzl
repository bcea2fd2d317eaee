"""Push rules: image_push."""

load("//img/private:image_push.bzl", _image_push = "image_push")

image_push = _image_push
