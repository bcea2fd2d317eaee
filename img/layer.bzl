"""Layer rules: image_layer, layer_from_tar, layer_from_binary, layer_from_file, layer_from_pkg and the file_metadata helper."""

load("//img/private:file_metadata.bzl", _file_metadata = "file_metadata")
load("//img/private:image_layer.bzl", _image_layer = "image_layer")
load("//img/private:layer_from_binary.bzl", _layer_from_binary = "layer_from_binary")
load("//img/private:layer_from_file.bzl", _layer_from_file = "layer_from_file")
load("//img/private:layer_from_pkg.bzl", _layer_from_pkg = "layer_from_pkg")
load("//img/private:layer_from_tar.bzl", _layer_from_tar = "layer_from_tar")

file_metadata = _file_metadata
image_layer = _image_layer
layer_from_binary = _layer_from_binary
layer_from_file = _layer_from_file
layer_from_pkg = _layer_from_pkg
layer_from_tar = _layer_from_tar
