"""Providers that rules_img's rules pass between each other.

They carry small metadata files, not image bytes: an image's manifest is
written from its layers' metadata alone.
"""

LayerInfo = provider(
    doc = "One image layer.",
    fields = {
        "blob": "File: the layer as stored in a registry (a tar, possibly compressed).",
        "metadata": "File: JSON with mediaType, digest (of the blob), size (of the blob), " +
                    "diffID (digest of the uncompressed tar) and annotations.",
        "media_type": "string: the blob's OCI media type, e.g. application/vnd.oci.image.layer.v1.tar+gzip.",
    },
)

ImageManifestInfo = provider(
    doc = "A single-platform image.",
    fields = {
        "manifest": "File: the OCI image manifest JSON.",
        "config": "File: the OCI image config JSON.",
        "descriptor": "File: JSON descriptor of the manifest (mediaType, digest, size, platform).",
        "platform": "dict: the image's platform, keys os, architecture and (when set) variant.",
        "layers": "list of LayerInfo: the image's own layers, bottom first.",
        "oci_layout": "File: a directory holding the image as an OCI image layout.",
    },
)

ImageIndexInfo = provider(
    doc = "A multi-platform image index.",
    fields = {
        "index": "File: the OCI image index JSON.",
        "descriptor": "File: JSON descriptor of the index (mediaType, digest, size).",
        "manifests": "list of ImageManifestInfo: the images the index lists, in index order.",
        "oci_layout": "File: a directory holding the index and all its images as an OCI image layout.",
    },
)
