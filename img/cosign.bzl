"""rules_oci's cosign rules on rules_img: cosign_sign and cosign_attest. `@rules_img//cosign:defs.bzl` re-exports them under rules_oci's load path."""

load("//img/private:cosign_door.bzl", _cosign_attest = "cosign_attest", _cosign_sign = "cosign_sign")

cosign_attest = _cosign_attest
cosign_sign = _cosign_sign
