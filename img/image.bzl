"""Image rules: image_manifest (one platform) and image_index (many)."""

load("//img/private:image_index.bzl", _image_index = "image_index")
load("//img/private:image_manifest.bzl", _INHERIT_FROM_BASE = "INHERIT_FROM_BASE")
load("//img/private:image_manifest_macro.bzl", _image_manifest = "image_manifest")

INHERIT_FROM_BASE = _INHERIT_FROM_BASE
image_index = _image_index
image_manifest = _image_manifest
