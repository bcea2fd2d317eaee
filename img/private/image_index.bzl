"""image_index: a multi-platform index over image_manifest targets."""

load(":common/labels.bzl", "display_label")
load(":common/soci.bzl", "soci_blobs")
load(":deploy.bzl", "SPEC_ATTRS")
load(":image_providers.bzl", "image_providers")
load(":layout.bzl", "oci_layout", "split_layers")
load(":platforms/transitions.bzl", "platforms_split")
load(":providers/providers.bzl", "ImageIndexInfo", "ImageManifestInfo")
load(":stamp.bzl", "STAMP_ATTRS", "stamping", "template_vars")
load(":toolchain.bzl", "img_args", "img_tool")

def write_index(ctx, manifests, annotations = {}, templates = False, annotations_file = None):
    """Declares NAME.index.json and NAME.descriptor.json and the action that writes them.

    Args:
        ctx: the rule context (its rule uses the img toolchain).
        manifests: ImageManifestInfo (or anything with a descriptor File), in index order.
        annotations: dict of index annotations.
        templates: the annotations' values may hold templates (the rule has STAMP_ATTRS).
        annotations_file: File of more annotations (annotations win), or None.

    Returns:
        (index File, descriptor File).
    """
    index = ctx.actions.declare_file(ctx.label.name + ".index.json")
    descriptor = ctx.actions.declare_file(ctx.label.name + ".descriptor.json")
    args = img_args(ctx)
    args.add("index")
    args.add("--target", display_label(ctx.label))
    args.add_all([m.descriptor for m in manifests], before_each = "--manifest-descriptor")
    inputs = [m.descriptor for m in manifests]
    for m in manifests:
        # The image's SOCI index gets an entry after the images.
        soci = getattr(m, "soci", None)
        if soci:
            args.add("--soci-index", "%s=%s" % (m.descriptor.path, soci.descriptor.path))
            inputs.append(soci.descriptor)
    for key, value in annotations.items():
        args.add("--annotation", "%s=%s" % (key, value))
    if annotations_file:
        args.add("--annotations-file", annotations_file)
        inputs.append(annotations_file)
    if templates and [v for v in annotations.values() if "{{" in v]:
        for key, value in template_vars(ctx).items():
            args.add("--var", "%s=%s" % (key, value))
        if stamping(ctx):
            args.add("--status", ctx.info_file)
            args.add("--status", ctx.version_file)
            inputs += [ctx.info_file, ctx.version_file]
    args.add("--index", index)
    args.add("--descriptor", descriptor)
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = inputs,
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

    index, descriptor = write_index(ctx, manifests, ctx.attr.annotations, templates = True, annotations_file = ctx.file.annotations_file)

    local, remote = split_layers([layer for m in manifests for layer in m.layers])
    access = [m.base.access for m in manifests if m.base]
    layout = oci_layout(
        ctx,
        descriptor,
        depset([index] + [f for m in manifests for f in (m.manifest, m.config)] + local + soci_blobs(manifests)),
        remote_layers = remote,
        # Bases of one index come from one registry setup in practice.
        access = access[0] if access else None,
    )
    info = ImageIndexInfo(
        index = index,
        descriptor = descriptor,
        manifests = manifests,
        oci_layout = layout,
    )
    return image_providers(ctx, info, [index, descriptor])

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
        "annotations_file": attr.label(
            doc = "More index annotations from a file: a JSON object (string values, or lists whose last item wins), " +
                  "a JSON array of \"KEY=VALUE\" strings, or KEY=VALUE lines (# comments). annotations wins over it.",
            allow_single_file = True,
        ),
        "annotations": attr.string_dict(doc = "Index annotations. Values may hold {{.KEY}} templates: build_settings, " +
                                              "and the workspace status when stamping."),
        "_allowlist_function_transition": attr.label(
            default = "@bazel_tools//tools/allowlists/function_transition_allowlist",
        ),
    } | STAMP_ATTRS | SPEC_ATTRS,
    toolchains = ["//img:toolchain_type"],
)
