"""base_image_layer: the pieces of a bespoke base image merged into one layer."""

load(":image_layer.bzl", "LAYER_ATTRS", "LAYER_TOOLCHAINS", "write_layer")
load(":providers/providers.bzl", "BaseImageContentInfo")

def _base_image_layer_impl(ctx):
    infos = [src[BaseImageContentInfo] for src in ctx.attr.srcs]
    bases = [f for info in infos for f in info.descriptions.to_list()]
    layer = write_layer(ctx, [], bases = bases, inputs = [info.files for info in infos])
    return [
        DefaultInfo(files = depset([layer.blob, layer.metadata])),
        OutputGroupInfo(layer = depset([layer.blob]), metadata = depset([layer.metadata])),
        layer,
    ]

base_image_layer = rule(
    implementation = _base_image_layer_impl,
    doc = """One layer made of base image pieces: linux_skeleton, etc_passwd, trust_store and the rest.

The pieces are descriptions, not tars: nothing is written until this rule's one
action. A path several srcs describe takes the last one's entry, so a later src
overrides an earlier one. The same path as two kinds (a directory in one src, a
link in another), or an entry under something that is not a directory, fails
the build naming both targets. buildifier sorts lists named srcs: a
`# do not sort` comment in the list keeps your order. Compression, eStargz and the metadata attributes
work as on image_layer; the pieces' own modes and owners win over
default_metadata, which gives them their mtime.

```
base_image_layer(
    name = "base_layer",
    srcs = [
        # do not sort: the last piece wins
        ":skeleton",
        ":users",
        ":trust",
    ],
)

image_manifest(
    name = "base",
    layers = [":base_layer"],
)
```""",
    attrs = dict(
        LAYER_ATTRS,
        srcs = attr.label_list(
            doc = "Base image pieces, merged in this order (the last one wins).",
            providers = [BaseImageContentInfo],
        ),
    ),
    toolchains = LAYER_TOOLCHAINS,
)
