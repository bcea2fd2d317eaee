"""image_manifest_from_oci_layout: one platform's image of an OCI layout."""

load(":common/labels.bzl", "display_label")
load(":layout.bzl", "oci_layout")
load(":oci_layout_import.bzl", "COMMON_ATTRS", "check_layers", "declare_image", "layout_dir", "run_import")
load(":providers/providers.bzl", "ImageManifestInfo")

def _platform(ctx):
    if not ctx.attr.os or not ctx.attr.architecture:
        fail("%s: os and architecture are required (for example os = \"linux\", architecture = \"amd64\")" % display_label(ctx.label))
    platform = ctx.attr.os + "/" + ctx.attr.architecture
    if ctx.attr.variant:
        platform += "/" + ctx.attr.variant
    return platform

def _impl(ctx):
    check_layers(ctx)
    path, inputs = layout_dir(ctx)
    spec, image, outputs = declare_image(ctx, ctx.label.name, _platform(ctx))
    run_import(ctx, {"target": display_label(ctx.label), "layout": path, "images": [spec]}, outputs, inputs)
    layout = oci_layout(ctx, image.descriptor, depset([image.manifest, image.config] + [layer.blob for layer in image.layers]))
    image = ImageManifestInfo(
        manifest = image.manifest,
        config = image.config,
        descriptor = image.descriptor,
        platform = image.platform,
        layers = image.layers,
        base = None,
        oci_layout = layout,
    )
    return [
        DefaultInfo(files = depset([image.manifest, image.config, image.descriptor])),
        OutputGroupInfo(oci_layout = depset([layout]), descriptor = depset([image.descriptor])),
        image,
    ]

image_manifest_from_oci_layout = rule(
    implementation = _impl,
    doc = """One platform's image of an OCI image layout, as an image like image_manifest's.

The layout may come from any tool (rules_oci, `crane`, `skopeo copy oci:...`).
The manifest and config are taken byte for byte, so the image keeps its digest;
layer metadata comes from them (diffIDs from the config), so no layer is
decompressed. The result can be pushed, loaded, put in an image_index or used
as an image_manifest's base.""",
    attrs = dict(
        COMMON_ATTRS,
        os = attr.string(doc = "The image's operating system, e.g. linux.", mandatory = True),
        architecture = attr.string(doc = "The image's architecture, e.g. amd64 or arm64.", mandatory = True),
        variant = attr.string(doc = "The architecture variant, e.g. v8 (optional; arm64 and arm64/v8 match)."),
    ),
    toolchains = ["//img:toolchain_type"],
)
