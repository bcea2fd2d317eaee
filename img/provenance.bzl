"""Provenance: image_provenance, an in-toto SLSA provenance statement attached to an image as a referrer."""

load("//img/private:image_provenance.bzl", _image_provenance = "image_provenance")

image_provenance = _image_provenance
