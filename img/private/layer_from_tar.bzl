"""layer_from_tar: a layer from an existing tar (plain, gzip or zstd)."""

load(":common/compression.bzl", "COMPRESSION_ATTRS", "COMPRESS_VALUES", "ESTARGZ_DOC", "ESTARGZ_VALUES", "blob_extension", "cas_digest_args", "check_estargz", "compression_args", "compression_jobs", "estargz_enabled")
load(":common/labels.bzl", "display_label")
load(":common/layer_descriptor.bzl", "LAYER_DESCRIPTOR_ATTRS")
load(":common/soci.bzl", "SOCI_DOC", "SOCI_VALUES", "layer_ztoc")
load(":providers/providers.bzl", "LayerInfo")
load(":toolchain.bzl", "img_args", "img_tool")

def tar_layer(
        ctx,
        src,
        name,
        compress = "auto",
        validation = "strict",
        allow_duplicate_paths = False,
        allow_device_files = False,
        annotations = {},
        estargz = "auto",
        annotations_file = None,
        media_type = "",
        soci = "auto"):
    """Declares the action that turns a tar into a layer.

    image_manifest uses it too, for plain tar files in its layers.

    Args:
        ctx: context of a rule with COMPRESSION_ATTRS and the img toolchain.
        src: File, the tar (plain, gzip or zstd).
        name: prefix of the declared outputs, unique within the target.
        compress: "auto" keeps the tar's compression; "gzip", "zstd" or "none".
        validation: "strict" or "traversal_only".
        allow_duplicate_paths: keep a path that occurs twice.
        allow_device_files: keep devices and FIFOs.
        annotations: dict for the layer's descriptor.
        estargz: "enabled", "disabled" or "auto" (the flag); an eStargz layer
            is gzip, so "auto" compression means gzip then.
        annotations_file: File of more annotations, or None.
        media_type: the layer's media type instead of its compression's.
        soci: "enabled", "disabled" or "auto" (the flag): write the layer's ztoc too.

    Returns:
        LayerInfo of the new layer.
    """
    metadata = ctx.actions.declare_file(name + ".layer.json")
    args = img_args(ctx)
    args.add("layer")
    args.add("--target", display_label(ctx.label))
    args.add("--from-tar", src)
    args.add("--validation", validation)
    if allow_duplicate_paths:
        args.add("--allow-duplicate-paths")
    if allow_device_files:
        args.add("--allow-device-files")
    args.add("--metadata", metadata)
    algorithm = compress
    if estargz_enabled(ctx, estargz):
        algorithm, flags = compression_args(ctx, "gzip" if compress == "auto" else compress)
        check_estargz(display_label(ctx.label), algorithm)
        blob = ctx.actions.declare_file(name + blob_extension(algorithm))
        args.add_all(flags)
        args.add("--estargz")
    elif compress == "auto":
        # Keep the input's bytes (and compression): the blob is a copy.
        blob = ctx.actions.declare_file(name + ".layer_blob")
        args.add("--compress", "auto")

        # Used only when names must be canonicalised and the tar rewritten.
        args.add("--jobs", compression_jobs(ctx))
    else:
        _, flags = compression_args(ctx, compress)
        blob = ctx.actions.declare_file(name + blob_extension(compress))
        args.add_all(flags)
    args.add("--blob", blob)
    args.add_all(cas_digest_args(ctx))

    # An "auto" tar's compression is known only when the action reads it:
    # img writes an empty ztoc for one that is not gzip.
    ztoc, ztoc_flags = layer_ztoc(ctx, name, "gzip" if algorithm == "auto" else algorithm, soci)
    args.add_all(ztoc_flags)
    for key, value in annotations.items():
        args.add("--annotation", "%s=%s" % (key, value))
    if annotations_file:
        args.add("--annotations-file", annotations_file)
    if media_type:
        args.add("--media-type", media_type)
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = [src] + ([annotations_file] if annotations_file else []),
        outputs = [blob, metadata] + ([ztoc] if ztoc else []),
        mnemonic = "ImageLayerFromTar",
        progress_message = "Importing layer %%{label} from %s" % src.short_path,
        toolchain = "//img:toolchain_type",
    )

    # The media type of an "auto" layer is only known once the tar is read:
    # consumers take it from the metadata file.
    return LayerInfo(blob = blob, metadata = metadata, media_type = media_type or None, ztoc = ztoc)

def _layer_from_tar_impl(ctx):
    layer = tar_layer(
        ctx,
        ctx.file.src,
        ctx.label.name,
        compress = ctx.attr.compress,
        validation = ctx.attr.validation,
        allow_duplicate_paths = ctx.attr.allow_duplicate_paths,
        allow_device_files = ctx.attr.allow_device_files,
        annotations = ctx.attr.annotations,
        estargz = ctx.attr.estargz,
        soci = ctx.attr.soci,
        annotations_file = ctx.file.annotations_file,
        media_type = ctx.attr.media_type,
    )
    return [DefaultInfo(files = depset([layer.blob, layer.metadata])), layer]

layer_from_tar = rule(
    implementation = _layer_from_tar_impl,
    doc = """Turns an existing tar into a layer, e.g. the output of rules_pkg's pkg_tar.

With compress = "auto" (the default) the tar's own compression is kept and its
bytes are copied unchanged; otherwise it is decompressed and recompressed.

Every entry is checked in the pass that reads it. Entry names are made
canonical: "./etc/passwd" and "/etc/passwd" become "etc/passwd" and a "./"
root entry is dropped (with compress = "auto" such a tar is rewritten in its own
compression, as its bytes cannot be kept). Refused by default, with an error
naming the target, the tar and the entry: names with "..", entries below a
symlink of the same tar, hardlinks to anything but an earlier file, paths that
occur twice, device files and FIFOs, and entry types a layer cannot carry.""",
    attrs = dict(
        COMPRESSION_ATTRS | LAYER_DESCRIPTOR_ATTRS,
        src = attr.label(
            doc = "A tar file: plain, gzip or zstd.",
            allow_single_file = True,
            mandatory = True,
        ),
        compress = attr.string(
            doc = "auto keeps the input's compression; " + ", ".join(COMPRESS_VALUES[1:]) + " recompress.",
            default = "auto",
            values = COMPRESS_VALUES,
        ),
        annotations = attr.string_dict(doc = "Annotations on the layer's descriptor in the manifest."),
        estargz = attr.string(
            doc = ESTARGZ_DOC + " With compress = \"auto\" the tar is rewritten as eStargz gzip.",
            default = "auto",
            values = ESTARGZ_VALUES,
        ),
        soci = attr.string(doc = SOCI_DOC, default = "auto", values = SOCI_VALUES),
        validation = attr.string(
            doc = "strict (the default) checks every entry. traversal_only passes a vendor's tar " +
                  "through as it is (duplicates, devices, dangling hardlinks, any entry type) and " +
                  "still refuses entries that escape the layer root.",
            default = "strict",
            values = ["strict", "traversal_only"],
        ),
        allow_duplicate_paths = attr.bool(
            doc = "Keep a path that occurs twice in the tar; the later entry wins when a runtime unpacks it.",
        ),
        allow_device_files = attr.bool(
            doc = "Keep character and block devices and FIFOs; unpacking them needs privileges.",
        ),
    ),
    toolchains = ["//img:toolchain_type"],
)
