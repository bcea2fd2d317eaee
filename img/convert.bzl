"""Images from OCI image layout directories: image_manifest_from_oci_layout (one platform) and image_index_from_oci_layout (several)."""

load("//img/private:index_from_oci_layout.bzl", _image_index_from_oci_layout = "image_index_from_oci_layout")
load("//img/private:manifest_from_oci_layout.bzl", _image_manifest_from_oci_layout = "image_manifest_from_oci_layout")

image_index_from_oci_layout = _image_index_from_oci_layout
image_manifest_from_oci_layout = _image_manifest_from_oci_layout
