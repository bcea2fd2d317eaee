"""image_index: a multi-platform index over image_manifest targets."""

load(":common/labels.bzl", "display_label")
load(":digest.bzl", "digest_file")
load(":layout.bzl", "oci_layout", "split_layers")
load(":platforms/transitions.bzl", "platforms_split")
load(":providers/providers.bzl", "ImageIndexInfo", "ImageManifestInfo")
load(":toolchain.bzl", "img_args", "img_tool")

def write_index(ctx, manifests, annotations = {}):
    """Declares NAME.index.json and NAME.descriptor.json and the action that writes them.

    Args:
        ctx: the rule context (its rule uses the img toolchain).
        manifests: ImageManifestInfo (or anything with a descriptor File), in index order.
        annotations: dict of index annotations.

    Returns:
        (index File, descriptor File).
    """
    index = ctx.actions.declare_file(ctx.label.name + ".index.json")
    descriptor = ctx.actions.declare_file(ctx.label.name + ".descriptor.json")
    args = img_args(ctx)
    args.add("index")
    args.add("--target", display_label(ctx.label))
    args.add_all([m.descriptor for m in manifests], before_each = "--manifest-descriptor")
    for key, value in annotations.items():
        args.add("--annotation", "%s=%s" % (key, value))
    args.add("--index", index)
    args.add("--descriptor", descriptor)
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = [m.descriptor for m in manifests],
        outputs = [index, descriptor],
        mnemonic = "ImageIndex",
        progress_message = "Writing image index %{label}",
        toolchain = "//img:toolchain_type",
    )
    return index, descriptor

def _image_index_impl(ctx):
    # Platform-major order: every manifest for the first platform, then the next.
    # Without platforms the transition keeps the configuration, and Bazel
    # keys that lone branch its own way: read the plain list then.
    if ctx.attr.platforms:
        targets = [t for p in ctx.attr.platforms for t in ctx.split_attr.manifests[str(p.label)]]
    else:
        targets = ctx.attr.manifests
    manifests = [t[ImageManifestInfo] for t in targets]

    index, descriptor = write_index(ctx, manifests, ctx.attr.annotations)

    local, remote = split_layers([layer for m in manifests for layer in m.layers])
    access = [m.base.access for m in manifests if m.base]
    layout = oci_layout(
        ctx,
        descriptor,
        depset([index] + [f for m in manifests for f in (m.manifest, m.config)] + local),
        remote_layers = remote,
        # Bases of one index come from one registry setup in practice.
        access = access[0] if access else None,
    )
    return [
        DefaultInfo(files = depset([index, descriptor])),
        OutputGroupInfo(
            oci_layout = depset([layout]),
            descriptor = depset([descriptor]),
            digest = depset([digest_file(ctx, descriptor)]),
        ),
        ImageIndexInfo(
            index = index,
            descriptor = descriptor,
            manifests = manifests,
            oci_layout = layout,
        ),
    ]

image_index = rule(
    implementation = _image_index_impl,
    doc = """A multi-platform OCI image index.

With `platforms`, every manifest is built once per platform through a split
transition, so binaries inside (go_binary, cc_binary, ...) are built for that
platform. Without it, the manifests are used as they are. Output group
`oci_layout` holds the index and its images as an OCI image layout.""",
    attrs = {
        "manifests": attr.label_list(
            doc = "image_manifest targets.",
            providers = [ImageManifestInfo],
            cfg = platforms_split,
            mandatory = True,
        ),
        "platforms": attr.label_list(
            doc = "Platforms (with @platforms os and cpu constraints) to build each manifest for.",
            providers = [platform_common.PlatformInfo],
        ),
        "annotations": attr.string_dict(doc = "Index annotations."),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    },
    toolchains = ["//img:toolchain_type"],
)
