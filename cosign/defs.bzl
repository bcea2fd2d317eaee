"""rules_oci's cosign rules: change `@rules_oci//cosign:defs.bzl` to `@rules_img//cosign:defs.bzl`."""

load("//img:cosign.bzl", _cosign_attest = "cosign_attest", _cosign_sign = "cosign_sign")

cosign_attest = _cosign_attest
cosign_sign = _cosign_sign
