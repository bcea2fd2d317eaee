"""SOCI (v2): ztocs of gzip layers and the SOCI index manifest of an image.

A layer rule with soci enabled writes its ztoc in the layer action; an
image_manifest with soci enabled writes the ztocs its layers lack in actions
of their own, then the SOCI index, which an annotation on the manifest (and an
entry of an image_index) names for soci-snapshotter.
"""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load("//img/private:common/labels.bzl", "display_label")
load("//img/private:toolchain.bzl", "img_args", "img_tool")

SOCI_VALUES = ["auto", "enabled", "disabled"]

SOCI_DOC = ("enabled writes the SOCI ztoc of the layer (gzip only; eStargz, zstd and uncompressed layers get " +
            "none) in the layer action, for image_manifest's SOCI index; auto follows " +
            "--@rules_img//img/settings:soci (default disabled).")

SOCI_MANIFEST_ATTRS = {
    "soci": attr.string(
        doc = "enabled gives the image a SOCI index manifest (v2) for soci-snapshotter's lazy pulling: a ztoc " +
              "of each gzip layer (the layer's own, or written here), and the annotation " +
              "com.amazon.soci.index-digest on the manifest, which changes its digest. Push and load carry the " +
              "SOCI index; an image_index lists it beside the image. auto follows " +
              "--@rules_img//img/settings:soci (default disabled).",
        default = "auto",
        values = SOCI_VALUES,
    ),
    "soci_span_size": attr.int(
        doc = "Uncompressed bytes between ztoc checkpoints; -1: --@rules_img//img/settings:soci_span_size (4 MiB).",
        default = -1,
    ),
    "soci_min_layer_size": attr.int(
        doc = "Layers smaller than this (compressed) get no ztoc; -1: " +
              "--@rules_img//img/settings:soci_min_layer_size (10 MiB).",
        default = -1,
    ),
}

def _enabled(ctx, value):
    if value == "auto":
        value = ctx.attr._soci[BuildSettingInfo].value
    return value == "enabled"

def _settings(ctx):
    span = ctx.attr._soci_span_size[BuildSettingInfo].value
    if span <= 0:
        fail("%s: --@rules_img//img/settings:soci_span_size=%d: use a positive number of bytes" % (display_label(ctx.label), span))
    return span, ctx.attr._soci_min_layer_size[BuildSettingInfo].value

def layer_ztoc(ctx, name, algorithm, soci):
    """The ztoc a layer action writes, with its flags, when soci is on.

    Args:
        ctx: context of a layer rule with COMPRESSION_ATTRS.
        name: prefix of the layer's files.
        algorithm: the layer's resolved compression.
        soci: the rule's soci attribute.

    Returns:
        (File or None, list of img layer arguments).
    """
    if not _enabled(ctx, soci) or algorithm != "gzip":
        return None, []
    span, min_size = _settings(ctx)
    ztoc = ctx.actions.declare_file(name + ".ztoc")
    return ztoc, ["--ztoc", ztoc.path, "--ztoc-span", str(span), "--ztoc-min-size", str(min_size)]

def soci_index(ctx, layers):
    """Declares the SOCI index of an image_manifest with soci on.

    Args:
        ctx: context of image_manifest (SOCI_MANIFEST_ATTRS, COMPRESSION_ATTRS).
        layers: list of LayerInfo, the image's, bottom first.

    Returns:
        struct(manifest, descriptor, config, ztocs: list of File), or None
        when soci is off or no layer can have a ztoc (a shallow base's layers
        have no bytes here). The files are empty when every ztoc is.
    """
    if not _enabled(ctx, ctx.attr.soci):
        return None
    default_span, default_min = _settings(ctx)
    span = default_span if ctx.attr.soci_span_size == -1 else ctx.attr.soci_span_size
    min_size = default_min if ctx.attr.soci_min_layer_size == -1 else ctx.attr.soci_min_layer_size
    if span <= 0:
        fail("%s: soci_span_size = %d: use a positive number of bytes, or -1 for --@rules_img//img/settings:soci_span_size" % (display_label(ctx.label), span))
    if min_size < 0:
        fail("%s: soci_min_layer_size = %d: use 0 or more bytes, or -1 for --@rules_img//img/settings:soci_min_layer_size" % (display_label(ctx.label), min_size))
    pairs = []
    for i, layer in enumerate(layers):
        if not layer.blob or "gzip" not in (getattr(layer, "media_type", None) or "gzip"):
            continue
        ztoc = getattr(layer, "ztoc", None)
        if ztoc == None or (span, min_size) != (default_span, default_min):
            ztoc = ctx.actions.declare_file("%s.soci/%d.ztoc" % (ctx.label.name, i))
            args = img_args(ctx)
            args.add("ztoc")
            args.add("--blob", layer.blob)
            args.add("--metadata", layer.metadata)
            args.add("--span", str(span))
            args.add("--min-size", str(min_size))
            args.add("--output", ztoc)
            ctx.actions.run(
                executable = img_tool(ctx),
                arguments = [args],
                inputs = [layer.blob, layer.metadata],
                outputs = [ztoc],
                mnemonic = "ImageZtoc",
                progress_message = "Writing the ztoc of layer %d of %%{label}" % i,
                toolchain = "//img:toolchain_type",
            )
        pairs.append((layer.metadata, ztoc))
    if not pairs:
        return None
    manifest = ctx.actions.declare_file(ctx.label.name + ".soci_index.json")
    descriptor = ctx.actions.declare_file(ctx.label.name + ".soci_descriptor.json")
    config = ctx.actions.declare_file(ctx.label.name + ".soci_config.json")
    args = img_args(ctx)
    args.add("soci-index")
    for metadata, ztoc in pairs:
        args.add("--layer", "%s=%s" % (metadata.path, ztoc.path))
    args.add("--span", str(span))
    args.add("--manifest", manifest)
    args.add("--descriptor", descriptor)
    args.add("--config", config)
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = [f for pair in pairs for f in pair],
        outputs = [manifest, descriptor, config],
        mnemonic = "ImageSociIndex",
        progress_message = "Writing the SOCI index of %{label}",
        toolchain = "//img:toolchain_type",
    )
    return struct(manifest = manifest, descriptor = descriptor, config = config, ztocs = [z for _, z in pairs])

def soci_blobs(manifests):
    """The files of the SOCI indexes of images, for an OCI layout.

    Args:
        manifests: list of ImageManifestInfo.

    Returns:
        list of File.
    """
    out = []
    for m in manifests:
        soci = getattr(m, "soci", None)
        if soci:
            out += [soci.manifest, soci.config] + soci.ztocs
    return out
