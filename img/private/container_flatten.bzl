"""container_flatten: rules_docker's container_flatten, an image's file system as one tar."""

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

container_flatten = rule(
    implementation = _impl,
    doc = """rules_docker's container_flatten: NAME.tar is the file system a container of the
image sees (whiteouts applied, each path from its highest layer), NAME.json the config.

It needs every layer's bytes: a base pulled shallowly is fetched while it runs.""",
    attrs = {
        "image": attr.label(mandatory = True, providers = [ImageManifestInfo], doc = "A container_image or any single-platform rules_img image."),
    },
    toolchains = ["//img:toolchain_type"],
)
