"""Image rules: image_manifest (one platform), image_index (many), image_from_binary (a *_binary as either)."""

load("//img/private:image_from_binary.bzl", _image_from_binary = "image_from_binary")
load("//img/private:image_index.bzl", _image_index = "image_index")
load("//img/private:image_manifest.bzl", _INHERIT_FROM_BASE = "INHERIT_FROM_BASE")
load("//img/private:image_manifest_macro.bzl", _image_manifest = "image_manifest")

INHERIT_FROM_BASE = _INHERIT_FROM_BASE
image_from_binary = _image_from_binary
image_index = _image_index
image_manifest = _image_manifest
