"""container_layer: rules_docker's container_layer, as rules_img layers."""

load("//img:layer.bzl", "file_metadata", "image_layer", "layer_from_tar")
load("//img:macros.bzl", "helper_attrs")
load("//img:providers.bzl", "LayerGroupInfo", "LayerInfo")
load(":common.bzl", "split_attrs")

def _layer_group_impl(ctx):
    return [LayerGroupInfo(layers = [t[LayerInfo] for t in ctx.attr.layers])]

layer_group = rule(
    implementation = _layer_group_impl,
    doc = "Several layers as one target (LayerGroupInfo), bottom first.",
    attrs = {"layers": attr.label_list(providers = [LayerInfo])},
)

_ADVICE = {
    "debs": "extracting .deb files is not installing them; build the files into a layer with pkg_tar or image_layer, or start from a base that has the packages",
    "empty_files": "use rules_pkg's pkg_files or pkg_mkdirs with layer_from_pkg",
    "empty_dirs": "use rules_pkg's pkg_mkdirs with layer_from_pkg",
    "data_path": "give each file its image path in image_layer's srcs, or use pkg_tar's strip_prefix",
    "enable_mtime_preservation": "mtimes read from disk would make the image differ per machine; set mtime instead",
    "compression_options": "use --@rules_img//img/settings:compression_level",
    "env": "set env on the container_image",
    "operating_system": "set operating_system on the container_image",
}

# rules_docker's portable_mtime: 2000-01-01T00:00:00Z.
_PORTABLE_MTIME = 946684800

def layer_parts(name, files, directory, mode, symlinks, tars, mtime, portable_mtime, compression, attrs):
    """Declares the layers for files, symlinks and tars; returns their labels.

    Files and symlinks make one layer; each tar is one more, kept in its
    own compression (rules_docker merged them all into one).

    Args:
        name: prefix of the targets.
        files: labels; each file goes into directory under its base name.
        directory: where files go.
        mode: octal mode of the files, e.g. "0o555".
        symlinks: image path -> link target.
        tars: tar files.
        mtime: Unix seconds, or -1 for the epoch.
        portable_mtime: rules_docker's 2000-01-01 timestamps.
        compression: "gzip" (rules_docker's only one).
        attrs: attributes of the helper targets.

    Returns:
        list of labels, bottom first.
    """
    if compression not in ("gzip", "none", "zstd"):
        fail("%s: compression = %r: use \"gzip\"" % (name, compression))
    if portable_mtime:
        mtime = _PORTABLE_MTIME
    parts = []
    if files or symlinks:
        metadata = {"mode": "0" + mode.removeprefix("0o").removeprefix("0")}
        if mtime != -1:
            metadata["mtime"] = mtime
        if files:
            native.filegroup(name = name + ".files", srcs = files, **attrs)
        image_layer(
            name = name + ".files_layer",
            srcs = {directory.rstrip("/") + "/": ":" + name + ".files"} if files else {},
            symlinks = symlinks,
            default_metadata = file_metadata(**metadata),
            compress = compression,
            include_runfiles = False,
            **attrs
        )
        parts.append(":" + name + ".files_layer")
    for i, tar in enumerate(tars):
        layer_from_tar(name = "%s.tar_%d" % (name, i), src = tar, **attrs)
        parts.append(":%s.tar_%d" % (name, i))
    return parts

def container_layer(
        name,
        files = [],
        directory = "/",
        mode = "0o555",
        symlinks = {},
        tars = [],
        mtime = -1,
        portable_mtime = False,
        compression = "gzip",
        **kwargs):
    """rules_docker's container_layer: files, symlinks and tars for container_image's layers.

    Files go into directory under their base names with mode; symlinks are
    image path -> target. The files and symlinks are one layer and each tar
    one more (rules_docker merged them into one; the image's file system is
    the same).

    Args:
        name: the target.
        files: files to add.
        directory: where they go (default /).
        mode: their mode (default 0o555).
        symlinks: image path -> link target.
        tars: tar files whose contents are added.
        mtime: Unix seconds of the files (default: the epoch).
        portable_mtime: 2000-01-01 instead.
        compression: "gzip".
        **kwargs: common attributes.
    """
    common = split_attrs("container_layer", name, kwargs, _ADVICE)
    parts = layer_parts(name, files, directory, mode, symlinks, tars, mtime, portable_mtime, compression, helper_attrs(common))
    if not parts:
        fail("container_layer %s: nothing to put in it: set files, symlinks or tars" % name)
    layer_group(name = name, layers = parts, **common)
