"""oci_layout_image: an image or index whose default output is its OCI layout, as rules_oci's are."""

load("//img:providers.bzl", "ImageIndexInfo", "ImageManifestInfo")

def _impl(ctx):
    target = ctx.attr.image
    info = target[ImageManifestInfo] if ImageManifestInfo in target else target[ImageIndexInfo]
    groups = target[OutputGroupInfo]

    # The same providers, so image_push, image_load, image_index and a base
    # reference see the image itself; only the default output differs.
    return [
        DefaultInfo(files = depset([info.oci_layout])),
        info,
        OutputGroupInfo(
            oci_layout = groups.oci_layout,
            descriptor = groups.descriptor,
            digest = groups.digest,
        ),
    ]

oci_layout_image = rule(
    implementation = _impl,
    doc = "Forwards an image_manifest or image_index; its default output is the OCI layout directory.",
    attrs = {
        "image": attr.label(mandatory = True, providers = [[ImageManifestInfo], [ImageIndexInfo]]),
    },
)
