"""rules_oci's rules on rules_img: change `@rules_oci//oci:defs.bzl` to `@rules_img//oci:defs.bzl`."""

load("//oci/private:image.bzl", _oci_image = "oci_image")
load("//oci/private:image_index.bzl", _oci_image_index = "oci_image_index")
load("//oci/private:load.bzl", _oci_load = "oci_load")
load("//oci/private:push.bzl", _oci_push = "oci_push")

oci_image = _oci_image
oci_image_index = _oci_image_index
oci_load = _oci_load
oci_push = _oci_push
