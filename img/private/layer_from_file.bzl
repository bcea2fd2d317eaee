"""layer_from_file: any file as a layer blob, as it is (OCI artifacts)."""

load(":common/compression.bzl", "cas_digest_args")
load(":common/labels.bzl", "display_label")
load(":providers/providers.bzl", "LayerInfo")
load(":toolchain.bzl", "img_args", "img_tool")

def _layer_from_file_impl(ctx):
    for name in ctx.attr.diff_id_annotations + ctx.attr.base_name_annotations:
        if not name or ":" in name:
            fail("%s: annotation name %r: use a non-empty name without ':'" % (display_label(ctx.label), name))
    metadata = ctx.actions.declare_file(ctx.label.name + ".layer.json")
    args = img_args(ctx)
    args.add("file-layer")
    args.add("--target", display_label(ctx.label))
    args.add("--src", ctx.file.src)
    args.add("--media-type", ctx.attr.media_type)
    if ctx.attr.diff_id or ctx.attr.diff_id_annotations:
        args.add("--diff-id")
    args.add_all(ctx.attr.diff_id_annotations, before_each = "--diff-id-annotation")
    args.add_all(ctx.attr.base_name_annotations, before_each = "--base-name-annotation")
    for key, value in ctx.attr.annotations.items():
        args.add("--annotation", "%s=%s" % (key, value))
    args.add("--metadata", metadata)
    args.add_all(cas_digest_args(ctx))

    # Only the metadata is written: the blob is the file itself.
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = [ctx.file.src],
        outputs = [metadata],
        mnemonic = "ImageLayerFromFile",
        progress_message = "Describing %{input} as a layer of %{label}",
        toolchain = "//img:toolchain_type",
    )
    return [
        DefaultInfo(files = depset([ctx.file.src, metadata])),
        OutputGroupInfo(layer = depset([ctx.file.src]), metadata = depset([metadata])),
        LayerInfo(blob = ctx.file.src, metadata = metadata, media_type = ctx.attr.media_type),
    ]

layer_from_file = rule(
    implementation = _layer_from_file_impl,
    doc = """Any file as a layer blob, unchanged: a Helm chart, a WASM module, an SBOM.

Only its metadata is computed (digest, size); nothing is tarred or compressed.
For a tar that should become a filesystem layer, use layer_from_tar.""",
    attrs = {
        "_digest_function": attr.label(default = "//img/settings:digest_function"),
        "src": attr.label(doc = "The file.", allow_single_file = True, mandatory = True),
        "media_type": attr.string(
            doc = "The blob's media type, e.g. application/vnd.cncf.helm.chart.content.v1.tar+gzip.",
            default = "application/vnd.oci.image.layer.v1.tar",
        ),
        "annotations": attr.string_dict(doc = "Annotations on the layer's descriptor."),
        "base_name_annotations": attr.string_list(
            doc = "Annotations set to the file's base name, e.g. org.opencontainers.image.title for ORAS.",
        ),
        "diff_id": attr.bool(
            doc = "The file is a tar (plain, gzip or zstd): its diffID is the digest of the uncompressed tar " +
                  "(otherwise the blob's digest). Usually layer_from_tar is what you want then.",
        ),
        "diff_id_annotations": attr.string_list(doc = "Annotations set to the diffID (implies diff_id)."),
    },
    toolchains = ["//img:toolchain_type"],
)
