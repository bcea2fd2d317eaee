"""A user's own layer rule: a blob and a metadata file it wrote itself."""

load("@rules_img//img:providers.bzl", "LayerInfo")

def _fake_layer_impl(ctx):
    blob = ctx.actions.declare_file(ctx.label.name + ".blob")
    metadata = ctx.actions.declare_file(ctx.label.name + ".layer.json")
    ctx.actions.write(blob, "abc")
    ctx.actions.write(metadata, ctx.attr.content)
    return [
        DefaultInfo(files = depset([blob, metadata])),
        LayerInfo(blob = blob, metadata = metadata, media_type = None),
    ]

fake_layer = rule(
    implementation = _fake_layer_impl,
    attrs = {"content": attr.string()},
)
