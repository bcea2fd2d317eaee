"""SBOMs: image_sbom, an SBOM of an image attached to it as a referrer."""

load("//img/private:image_sbom.bzl", _image_sbom = "image_sbom")

image_sbom = _image_sbom
