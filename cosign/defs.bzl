"""rules_oci's cosign rules: cosign_sign and cosign_attest (`@rules_oci//cosign:defs.bzl`)."""

load("//img/private:cosign_door.bzl", _cosign_attest = "cosign_attest", _cosign_sign = "cosign_sign")

cosign_attest = _cosign_attest
cosign_sign = _cosign_sign
