"""image_index_from_oci_layout: several platforms' images of an OCI layout, as an index."""

load(":common/labels.bzl", "display_label")
load(":layout.bzl", "oci_layout")
load(":oci_layout_import.bzl", "COMMON_ATTRS", "check_layers", "declare_image", "layout_dir", "run_import")
load(":providers/providers.bzl", "ImageIndexInfo")

def _impl(ctx):
    check_layers(ctx)
    if not ctx.attr.manifests:
        fail("%s: manifests: list the platforms to take, e.g. [\"linux/amd64\", \"linux/arm64\"]" % display_label(ctx.label))
    path, inputs = layout_dir(ctx)
    specs, images, outputs = [], [], []
    for platform in ctx.attr.manifests:
        spec, image, outs = declare_image(ctx, "%s_%s" % (ctx.label.name, platform.replace("/", "_")), platform)
        specs.append(spec)
        images.append(image)
        outputs.extend(outs)
    index = ctx.actions.declare_file(ctx.label.name + "_index.json")
    descriptor = ctx.actions.declare_file(ctx.label.name + "_descriptor.json")
    run_import(ctx, {
        "target": display_label(ctx.label),
        "layout": path,
        "images": specs,
        "index": index.path,
        "index_descriptor": descriptor.path,
    }, outputs + [index, descriptor], inputs)
    layout = oci_layout(ctx, descriptor, depset(
        [index] + [f for m in images for f in [m.manifest, m.config] + [layer.blob for layer in m.layers]],
    ))
    return [
        DefaultInfo(files = depset([index, descriptor])),
        OutputGroupInfo(oci_layout = depset([layout]), descriptor = depset([descriptor])),
        ImageIndexInfo(index = index, descriptor = descriptor, manifests = images, oci_layout = layout),
    ]

image_index_from_oci_layout = rule(
    implementation = _impl,
    doc = """Images of several platforms from an OCI image layout, as an index like image_index's.

The layout's own index is kept byte for byte (and so its digest) when it lists
exactly the platforms taken, in that order; otherwise a new index of them is
written. Each image is taken as image_manifest_from_oci_layout takes it.""",
    attrs = dict(
        COMMON_ATTRS,
        manifests = attr.string_list(
            doc = "The platforms to take, in index order, as os/architecture[/variant]: [\"linux/amd64\", \"linux/arm64\"].",
            mandatory = True,
        ),
    ),
    toolchains = ["//img:toolchain_type"],
)
