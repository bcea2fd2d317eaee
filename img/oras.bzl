"""ORAS layers: oras_file_layer (a file) and oras_layer (files as a directory)."""

load("//img/private:oras.bzl", _oras_file_layer = "oras_file_layer", _oras_layer = "oras_layer")

oras_file_layer = _oras_file_layer
oras_layer = _oras_layer
