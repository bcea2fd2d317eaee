"""Tar files of images, written by `bazel build`: image_tarball (a docker-save archive of images under references) and image_flatten (an image's merged file system)."""

load("//img/private:image_flatten.bzl", _image_flatten = "image_flatten")
load("//img/private:image_tarball.bzl", _image_tarball = "image_tarball")

image_flatten = _image_flatten
image_tarball = _image_tarball
