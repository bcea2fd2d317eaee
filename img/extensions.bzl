"""Module extensions: images, which pulls base images once per digest for every module."""

load("//img/private:images_extension.bzl", _images = "images")

images = _images
