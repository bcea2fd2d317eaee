"""image_flatten: an image's file system as one tar (rules_docker's container_flatten)."""

load(":common/labels.bzl", "display_label")
load(":providers/providers.bzl", "ImageManifestInfo")
load(":toolchain.bzl", "img_args", "img_tool")

def _impl(ctx):
    info = ctx.attr.image[ImageManifestInfo]
    out = ctx.actions.declare_file(ctx.label.name + ".tar")
    config = ctx.actions.declare_file(ctx.label.name + ".json")
    args = img_args(ctx)
    args.add("flatten")
    args.add("--layout", info.oci_layout.path)
    args.add("--out", out)
    args.add("--config-out", config)
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = [info.oci_layout],
        outputs = [out, config],
        mnemonic = "ImageFlatten",
        progress_message = "Flattening %s" % display_label(ctx.attr.image.label),
        toolchain = "//img:toolchain_type",
    )
    return [DefaultInfo(files = depset([out, config]))]

image_flatten = rule(
    implementation = _impl,
    doc = """An image's file system as one tar: NAME.tar is what a container of the image sees
(whiteouts applied, each path from its highest layer), NAME.json the config. rules_docker's
container_flatten is this rule.

It needs every layer's bytes: a base pulled shallowly is fetched while it runs.""",
    attrs = {
        "image": attr.label(mandatory = True, providers = [ImageManifestInfo], doc = "A single-platform image: image_manifest, container_image or a pulled image of one platform."),
    },
    toolchains = ["//img:toolchain_type"],
)
