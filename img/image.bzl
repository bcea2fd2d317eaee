"""Image rules: image_manifest (one platform), image_index (many), image_from_binary (a *_binary as either), image_optimize."""

load("//img/private:image_from_binary.bzl", _image_from_binary = "image_from_binary")
load("//img/private:image_index.bzl", _image_index = "image_index")
load("//img/private:image_manifest.bzl", _INHERIT_FROM_BASE = "INHERIT_FROM_BASE")
load("//img/private:image_manifest_macro.bzl", _image_manifest = "image_manifest")
load("//img/private:image_optimize.bzl", _image_optimize = "image_optimize")

INHERIT_FROM_BASE = _INHERIT_FROM_BASE
image_from_binary = _image_from_binary
image_index = _image_index
image_manifest = _image_manifest
image_optimize = _image_optimize
