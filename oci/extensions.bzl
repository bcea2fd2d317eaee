"""rules_oci's module extension on rules_img: `use_extension("@rules_img//oci:extensions.bzl", "oci")`."""

load("//oci/private:extension.bzl", _oci = "oci")

oci = _oci
