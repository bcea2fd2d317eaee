"""Shared code of image_manifest_from_oci_layout and image_index_from_oci_layout.

The rules declare one blob and one metadata file per layer, so the number of
layers must be known in analysis: that is what `layers` (a media type per
layer) says. `img import-layout` checks it against the layout and, when it is
wrong, prints the list to paste.
"""

load(":common/compression.bzl", "ALGORITHM_OF_MEDIA_TYPE", "blob_extension")
load(":common/labels.bzl", "display_label")
load(":platforms/platform.bzl", "parse_platform")
load(":providers/providers.bzl", "ImageManifestInfo", "LayerInfo")
load(":toolchain.bzl", "img_tool")

# Layer media type (OCI's or Docker's) -> the blob's file extension.
_EXTENSIONS = {media_type: blob_extension(algorithm) for media_type, algorithm in ALGORITHM_OF_MEDIA_TYPE.items()}

COMMON_ATTRS = {
    "src": attr.label(
        doc = "The OCI image layout: a directory (a tree artifact such as rules_oci's oci_image output, or a " +
              "checked-in directory), or the files of a checked-in layout (`glob([\"layout/**\"])`), which must " +
              "include its `index.json`.",
        allow_files = True,
        mandatory = True,
    ),
    "layers": attr.string_list(
        doc = "The media type of each layer, bottom first (constants in `@rules_img//img:media_types.bzl`). " +
              "A wrong list fails the build with the right one in the message.",
        mandatory = True,
    ),
}

def layout_dir(ctx):
    """The layout directory's path, and the files the action reads.

    Args:
        ctx: the rule context.

    Returns:
        (path string, list of Files).
    """
    files = ctx.files.src
    if len(files) == 1 and files[0].is_directory:
        return files[0].path, files
    if len(files) == 1 and files[0].is_source and files[0].basename != "index.json":
        # A checked-in directory named directly.
        return files[0].path, files
    roots = [f.dirname for f in files if f.basename == "index.json"]
    if not roots:
        fail("%s: src holds no index.json; name the layout directory or glob all of its files, index.json included" % display_label(ctx.label))
    return sorted(roots, key = len)[0], files

def check_layers(ctx):
    """Fails on a media type the rules cannot name an output for.

    Args:
        ctx: the rule context.
    """
    for media_type in ctx.attr.layers:
        if media_type not in _EXTENSIONS:
            fail("%s: layers: unknown layer media type %r; use one of %s (or the constants in @rules_img//img:media_types.bzl)" % (
                display_label(ctx.label),
                media_type,
                ", ".join(sorted(_EXTENSIONS.keys())),
            ))

def declare_image(ctx, prefix, platform):
    """Declares one image's outputs.

    Args:
        ctx: the rule context.
        prefix: output name prefix.
        platform: "os/arch[/variant]".

    Returns:
        (spec dict for img, ImageManifestInfo, list of output Files).
    """
    manifest = ctx.actions.declare_file(prefix + "_manifest.json")
    config = ctx.actions.declare_file(prefix + "_config.json")
    descriptor = ctx.actions.declare_file(prefix + "_descriptor.json")
    layers, spec_layers, outputs = [], [], [manifest, config, descriptor]
    for i, media_type in enumerate(ctx.attr.layers):
        blob = ctx.actions.declare_file("%s_layer_%d%s" % (prefix, i, _EXTENSIONS[media_type]))
        metadata = ctx.actions.declare_file("%s_layer_%d.json" % (prefix, i))
        layers.append(LayerInfo(blob = blob, metadata = metadata, media_type = media_type))
        spec_layers.append({"media_type": media_type, "metadata": metadata.path, "blob": blob.path})
        outputs.extend([blob, metadata])
    spec = {
        "platform": platform,
        "manifest": manifest.path,
        "config": config.path,
        "descriptor": descriptor.path,
        "layers": spec_layers,
    }
    info = ImageManifestInfo(
        manifest = manifest,
        config = config,
        descriptor = descriptor,
        platform = parse_platform(platform),
        layers = layers,
        base = None,
        oci_layout = None,
    )
    return spec, info, outputs

def run_import(ctx, spec, outputs, inputs):
    """Writes the spec and runs `img import-layout`.

    Args:
        ctx: the rule context.
        spec: dict for fromlayout.Spec.
        outputs: every declared output.
        inputs: the layout's files.
    """
    spec_file = ctx.actions.declare_file(ctx.label.name + "_import.json")
    ctx.actions.write(spec_file, json.encode(spec))
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = ["import-layout", "--spec", spec_file.path],
        inputs = [spec_file] + inputs,
        outputs = outputs,
        mnemonic = "ImageImportLayout",
        progress_message = "Taking images from the OCI layout of %{label}",
        toolchain = "//img:toolchain_type",
    )
