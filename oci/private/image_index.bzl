"""oci_image_index: rules_oci's oci_image_index, built by image_index."""

load("//img:image.bzl", "image_index")
load(":common.bzl", "common_attrs", "derived_attrs", "helper_attrs")
load(":layout_image.bzl", "oci_layout_image")

def oci_image_index(name, images, platforms = None, annotations = None, **kwargs):
    """rules_oci's oci_image_index: one index over images.

    Builds NAME.index (an image_index) and NAME, whose default output is the
    OCI layout. With platforms, every image is built once per platform
    through a transition (binaries in it are cross-built), as in rules_oci.
    NAME.digest holds the index's digest.

    Args:
        name: the target name.
        images: oci_image (or image_manifest) targets.
        platforms: platform labels to build each image for.
        annotations: index annotations (a dict).
        **kwargs: common attributes (tags, visibility, testonly, ...).
    """
    common = common_attrs("oci_image_index", name, kwargs)
    if type(annotations) == "string":
        fail("oci_image_index %s: annotations from a file are not supported here; give a dict" % name)
    image_index(
        name = name + ".index",
        manifests = images,
        platforms = platforms or [],
        annotations = annotations or {},
        **helper_attrs(common)
    )
    oci_layout_image(
        name = name,
        image = ":" + name + ".index",
        **common
    )
    native.filegroup(
        name = name + ".digest",
        srcs = [":" + name],
        output_group = "digest",
        **derived_attrs(common)
    )
