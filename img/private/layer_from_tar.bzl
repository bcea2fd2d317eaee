"""layer_from_tar: a layer from an existing tar (plain, gzip or zstd)."""

load(":compression.bzl", "COMPRESSION_ATTRS", "COMPRESS_VALUES", "compression_args")
load(":providers.bzl", "LayerInfo")
load(":toolchain.bzl", "img_tool")

def _layer_from_tar_impl(ctx):
    metadata = ctx.actions.declare_file(ctx.label.name + ".layer.json")
    args = ctx.actions.args()
    args.add("layer")
    args.add("--from-tar", ctx.file.src)
    args.add("--metadata", metadata)
    if ctx.attr.compress == "auto":
        # Keep the input's bytes (and compression): the blob is a copy.
        blob = ctx.actions.declare_file(ctx.label.name + ".layer_blob")
        args.add("--compress", "auto")
    else:
        _, flags = compression_args(ctx, ctx.attr.compress)
        blob = ctx.actions.declare_file(ctx.label.name + _EXTENSIONS[ctx.attr.compress])
        args.add_all(flags)
    args.add("--blob", blob)
    for key, value in ctx.attr.annotations.items():
        args.add("--annotation", "%s=%s" % (key, value))
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = [ctx.file.src],
        outputs = [blob, metadata],
        mnemonic = "ImageLayerFromTar",
        progress_message = "Importing layer %{label} from %{input}",
        toolchain = "//img:toolchain_type",
    )
    return [
        DefaultInfo(files = depset([blob, metadata])),
        # The media type of an "auto" layer is only known once the tar is read:
        # consumers take it from the metadata file.
        LayerInfo(blob = blob, metadata = metadata, media_type = None),
    ]

_EXTENSIONS = {"gzip": ".tar.gz", "zstd": ".tar.zst", "none": ".tar"}

layer_from_tar = rule(
    implementation = _layer_from_tar_impl,
    doc = """Turns an existing tar into a layer, e.g. the output of rules_pkg's pkg_tar.

With compress = "auto" (the default) the tar's own compression is kept and its
bytes are copied unchanged; otherwise it is decompressed and recompressed.""",
    attrs = dict(
        COMPRESSION_ATTRS,
        src = attr.label(
            doc = "A tar file: plain, gzip or zstd.",
            allow_single_file = True,
            mandatory = True,
        ),
        compress = attr.string(
            doc = "auto keeps the input's compression; gzip, zstd or none recompress.",
            default = "auto",
            values = COMPRESS_VALUES,
        ),
        annotations = attr.string_dict(doc = "Annotations on the layer's descriptor in the manifest."),
    ),
    toolchains = ["//img:toolchain_type"],
)
