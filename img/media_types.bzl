"""OCI layer media types, for the `layers` attribute of the rules in convert.bzl."""

load("//img/private:common/media_types.bzl", _GZIP_LAYER = "GZIP_LAYER", _UNCOMPRESSED_LAYER = "UNCOMPRESSED_LAYER", _ZSTD_LAYER = "ZSTD_LAYER")

UNCOMPRESSED_LAYER = _UNCOMPRESSED_LAYER
GZIP_LAYER = _GZIP_LAYER
ZSTD_LAYER = _ZSTD_LAYER
