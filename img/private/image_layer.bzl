"""image_layer: one layer from files, binaries, directories and symlinks."""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load(":common/compact.bzl", "check_compact", "rebuild_layer")
load(":common/compression.bzl", "COMPRESSION_ATTRS", "COMPRESS_VALUES", "ESTARGZ_DOC", "ESTARGZ_VALUES", "blob_extension", "cas_digest_args", "check_estargz", "compression_args", "estargz_enabled", "layer_media_type")
load(":common/labels.bzl", "display_label")
load(":common/layer_descriptor.bzl", "LAYER_DESCRIPTOR_ATTRS")
load(":common/soci.bzl", "SOCI_DOC", "SOCI_VALUES", "layer_ztoc")
load(":executables.bzl", "ExecutablesInfo", "executables_aspect")
load(":providers/providers.bzl", "LayerInfo")
load(":toolchain.bzl", "img_args", "img_tool")

def check_image_path(label, path, attribute):
    """Returns path as an absolute image path; fails unless it is normalised.

    A relative path ("app/server") is relative to the image root, as in
    upstream rules_img.

    Args:
        label: the rule's label, for the error.
        path: the image path to check.
        attribute: where the path came from, for the error.

    Returns:
        The path, starting with "/".
    """
    path = "/" + path.removeprefix("/")
    for part in path.split("/")[1:]:
        if part in ("", ".", ".."):
            fail("%s: %s: %r has an empty, '.' or '..' component; write the plain path, e.g. '/app/bin/server'" % (label, attribute, path))
    return path

def _check_metadata(label, value, attribute):
    decoded = json.decode(value, default = None)
    if type(decoded) != "dict":
        fail("%s: %s: %r is not file metadata; build it with file_metadata(mode = \"0755\", uid = 0, ...)" % (label, attribute, value))
    return decoded

def _runfiles_path(ctx, file):
    # Runfiles trees name the main repository by its workspace name and
    # external repositories by their canonical names.
    if file.short_path.startswith("../"):
        return file.short_path[3:]
    return ctx.workspace_name + "/" + file.short_path

def _file_entry(path, file, executables = {}):
    """Returns the layer spec entry that puts file at path.

    Its mode is decided here, never read from disk: 0755 for a file in
    executables (a target's FilesToRunProvider.executable), 0644 for any other
    file, including everything inside a tree artifact.
    """
    if file.is_directory:
        return {"path": path, "type": "tree", "source": file.path}
    entry = {"path": path, "type": "file", "source": file.path}
    if file in executables:
        entry["executable"] = True
    return entry

# A py_binary's stub runs its Python runtime's interpreter, which can be a
# runfile (Bazel's autodetecting runtime uses a shell wrapper). The runtime
# reaches the binary as a toolchain, where the executables aspect cannot
# follow (Bazel 7 has no toolchains_aspects), so the layer resolves the same
# optional toolchain and marks its interpreter executable.
_PY_TOOLCHAIN = "@bazel_tools//tools/python:toolchain_type"

def _python_runtimes(ctx):
    toolchain = ctx.toolchains[_PY_TOOLCHAIN]
    if not toolchain:
        return []
    return [r for r in [getattr(toolchain, name, None) for name in ("py3_runtime", "py2_runtime")] if r]

def _python_interpreters(ctx):
    return [r.interpreter for r in _python_runtimes(ctx) if type(getattr(r, "interpreter", None)) == "File"]

def _under(directory, name):
    return directory.rstrip("/") + "/" + name

def _entries_for(ctx, path, target, as_dir = False):
    info = target[DefaultInfo]

    # Only rules are binaries; a file's FilesToRunProvider names the file.
    executable = target[ExecutablesInfo].executable if ExecutablesInfo in target else None
    if executable:
        if as_dir:
            path = _under(path, executable.basename)
        return [item.entry for item in binary_entries(ctx, path, target)]
    files = info.files.to_list()

    # A binary reached through a rule that is not itself executable (a
    # filegroup of it, say) is still a binary.
    executables = {}
    if ExecutablesInfo in target:
        executables = {f: True for f in target[ExecutablesInfo].files.to_list()}
    if len(files) == 1 and not as_dir:
        return [_file_entry(path, files[0], executables)]

    # Several files (a filegroup, a rule with many outputs): path is a
    # directory holding each of them by its base name.
    by_name = {}
    for f in files:
        if f.basename in by_name:
            fail(("%s: srcs[%r]: %s gives two files named %s (%s and %s); a target with several files becomes " +
                  "a directory of their base names, so give each its own path") % (
                display_label(ctx.label),
                path,
                display_label(target.label),
                f.basename,
                by_name[f.basename].short_path,
                f.short_path,
            ))
        by_name[f.basename] = f
    if not files:
        fail("%s: srcs[%r]: %s gives no files" % (display_label(ctx.label), path, display_label(target.label)))
    return [_file_entry(_under(path, f.basename), f, executables) for f in files]

def _create_parents(ctx):
    value = ctx.attr.create_parent_directories
    if value == "auto":
        value = ctx.attr._create_parent_directories[BuildSettingInfo].value
    return value == "enabled"

def binary_entries(ctx, path, target):
    """The layer spec entries of a binary at path and of its runfiles.

    Args:
        ctx: context of a rule with LAYER_ATTRS; target carries executables_aspect.
        path: the binary's checked image path.
        target: the binary.

    Returns:
        list of struct(entry = dict, file = File or None (an empty file), runfile = runfiles path or None
        (the binary itself)).
    """
    info = target[DefaultInfo]
    executable = target[ExecutablesInfo].executable
    out = [struct(entry = _file_entry(path, executable, {executable: True}), file = executable, runfile = None)]
    if not ctx.attr.include_runfiles:
        return out
    executables = {f: True for f in target[ExecutablesInfo].files.to_list() + _python_interpreters(ctx)}
    root = path + ".runfiles"

    def add(rel, f):
        # f None: a file the runfiles tree holds empty (py_binary's __init__.py).
        entry = {"path": root + "/" + rel, "type": "empty"} if f == None else _file_entry(root + "/" + rel, f, executables)
        out.append(struct(entry = entry, file = f, runfile = rel))

    runfiles = info.default_runfiles
    for name in runfiles.empty_filenames.to_list():
        add(name[3:] if name.startswith("../") else ctx.workspace_name + "/" + name, None)
    for f in runfiles.files.to_list():
        add(_runfiles_path(ctx, f), f)
    for link in runfiles.symlinks.to_list():
        add(ctx.workspace_name + "/" + link.path, link.target_file)
    for link in runfiles.root_symlinks.to_list():
        add(link.path, link.target_file)
    repo_mapping = info.files_to_run.repo_mapping_manifest
    if repo_mapping:
        out.append(struct(entry = _file_entry(root + "/_repo_mapping", repo_mapping), file = repo_mapping, runfile = "_repo_mapping"))
    return out

def python_runtime_files(ctx):
    """The files of the Python runtime a py_binary runs on.

    Args:
        ctx: context of a rule with LAYER_TOOLCHAINS.

    Returns:
        list of File; none without a Python toolchain.
    """
    out = []
    for r in _python_runtimes(ctx):
        if getattr(r, "files", None):
            out.extend(r.files.to_list())
        if type(getattr(r, "interpreter", None)) == "File":
            out.append(r.interpreter)
    return out

def write_layer(ctx, srcs, symlinks = {}, entries = [], inputs = [], bases = [], name = None):
    """Declares the action that writes a layer of srcs and symlinks.

    layer_from_binary and layer_from_pkg write their layers with it too.

    Args:
        ctx: context of a rule with LAYER_ATTRS and LAYER_TOOLCHAINS; srcs'
            targets carry executables_aspect.
        srcs: list of (image path, target).
        symlinks: dict of image path -> link target.
        entries: layer spec entries made by the caller, with checked paths.
        inputs: list of depsets of the files those entries name.
        bases: list of File, base image content descriptions merged first, in order.
        name: prefix of the declared files (default: the target's name), for rules that write several layers.

    Returns:
        LayerInfo of the layer.
    """
    name = name or ctx.label.name
    entries = list(entries)
    inputs = list(inputs)
    for path, target in srcs:
        # "dir/" (or "/") puts the files in under their base names, however many.
        as_dir = path.endswith("/")
        path = "/" if as_dir and not path.strip("/") else check_image_path(display_label(ctx.label), path.removesuffix("/") if as_dir else path, "srcs")
        entries.extend(_entries_for(ctx, path, target, as_dir))
        inputs.append(target[DefaultInfo].files)
        if ctx.attr.include_runfiles:
            inputs.append(target[DefaultInfo].default_runfiles.files)
            if target[DefaultInfo].files_to_run and target[DefaultInfo].files_to_run.repo_mapping_manifest:
                inputs.append(depset([target[DefaultInfo].files_to_run.repo_mapping_manifest]))
    for path, link_target in symlinks.items():
        path = check_image_path(display_label(ctx.label), path, "symlinks")
        if not link_target:
            fail("symlinks[%r]: the link target is empty; give the path it points to" % path)
        entries.append({"path": path, "type": "symlink", "target": link_target})

    file_metadata = {}
    for path, value in ctx.attr.file_metadata.items():
        path = check_image_path(display_label(ctx.label), path, "file_metadata")
        file_metadata[path] = _check_metadata(display_label(ctx.label), value, "file_metadata[%r]" % path)
    spec = {
        "target": display_label(ctx.label),
        "create_parent_directories": _create_parents(ctx),
        "file_metadata": file_metadata,
        "entries": entries,
    }
    if ctx.attr.default_metadata:
        spec["default_metadata"] = _check_metadata(display_label(ctx.label), ctx.attr.default_metadata, "default_metadata")

    algorithm, compress_flags = compression_args(ctx, ctx.attr.compress)
    compact = ctx.attr._compact_layers[BuildSettingInfo].value == "enabled"
    if estargz_enabled(ctx, ctx.attr.estargz):
        compact = False
        check_estargz(display_label(ctx.label), algorithm)
        compress_flags.append("--estargz")
        spec["prioritized_files"] = [
            check_image_path(display_label(ctx.label), p, "estargz_prioritized_files")
            for p in ctx.attr.estargz_prioritized_files
        ]
    spec_file = ctx.actions.declare_file(name + ".layer_spec.json")
    ctx.actions.write(spec_file, json.encode(spec))

    blob = ctx.actions.declare_file(name + blob_extension(algorithm))
    metadata = ctx.actions.declare_file(name + ".layer.json")
    args = img_args(ctx)
    args.add("layer")
    args.add("--spec", spec_file)
    args.add_all(bases, before_each = "--base-description")
    args.add("--metadata", metadata)
    stream, cas = None, None
    if compact:
        # The blob comes from rebuild_layer when something needs its bytes;
        # its ztoc then from image_manifest.
        ztoc, ztoc_flags = None, []
        stream = ctx.actions.declare_file(name + ".cstream")
        cas = ctx.actions.declare_directory(name + ".cas")
        args.add("--compact", stream)
        args.add("--compact-cas", cas.path)
        outputs = [stream, cas, metadata]
    else:
        ztoc, ztoc_flags = layer_ztoc(ctx, name, algorithm, ctx.attr.soci)
        args.add("--blob", blob)
        outputs = [blob, metadata] + ([ztoc] if ztoc else [])
    args.add_all(compress_flags)
    args.add_all(cas_digest_args(ctx))
    args.add_all(ztoc_flags)
    for key, value in ctx.attr.annotations.items():
        args.add("--annotation", "%s=%s" % (key, value))
    extra = []
    if ctx.file.annotations_file:
        args.add("--annotations-file", ctx.file.annotations_file)
        extra.append(ctx.file.annotations_file)
    if ctx.attr.media_type:
        args.add("--media-type", ctx.attr.media_type)
    for annotation in ctx.attr.diff_id_annotations:
        if not annotation or "=" in annotation:
            fail("%s: diff_id_annotations: %r is not an annotation name" % (display_label(ctx.label), annotation))
    args.add_all(ctx.attr.diff_id_annotations, before_each = "--diff-id-annotation")
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = depset([spec_file] + bases + extra, transitive = inputs),
        outputs = outputs,
        mnemonic = "ImageLayer",
        progress_message = "Writing layer %{label}",
        toolchain = "//img:toolchain_type",
    )
    media_type = ctx.attr.media_type or layer_media_type(algorithm)
    if compact:
        check_compact(ctx)
        rebuild_layer(ctx, stream, cas, blob)
        return LayerInfo(blob = blob, metadata = metadata, media_type = media_type, compact = struct(stream = stream, cas = cas))
    return LayerInfo(blob = blob, metadata = metadata, media_type = media_type, ztoc = ztoc)

def layer_outputs(layer):
    """The default outputs of a layer rule.

    Args:
        layer: LayerInfo from write_layer.

    Returns:
        list of File: the blob and metadata, or for a compact layer its stream
        and metadata (asking for the blob would rebuild it).
    """
    compact = getattr(layer, "compact", None)
    return [compact.stream if compact else layer.blob, layer.metadata]

def _image_layer_impl(ctx):
    layer = write_layer(ctx, ctx.attr.srcs.items(), ctx.attr.symlinks)
    return [DefaultInfo(files = depset(layer_outputs(layer))), layer]

# Attributes of every rule that writes its layer with write_layer.
LAYER_ATTRS = dict(
    COMPRESSION_ATTRS | LAYER_DESCRIPTOR_ATTRS,
    file_metadata = attr.string_dict(
        doc = "Image path -> file_metadata(...) for that path (a file, a directory or a file inside a source directory).",
    ),
    default_metadata = attr.string(doc = "file_metadata(...) applied to every file without its own entry."),
    compress = attr.string(
        doc = ", ".join(COMPRESS_VALUES[1:]) + "; auto follows --@rules_img//img/settings:compress.",
        default = "auto",
        values = COMPRESS_VALUES,
    ),
    estargz = attr.string(doc = ESTARGZ_DOC, default = "auto", values = ESTARGZ_VALUES),
    soci = attr.string(doc = SOCI_DOC, default = "auto", values = SOCI_VALUES),
    estargz_prioritized_files = attr.string_list(
        doc = "Image paths the container reads at start-up, in that order. An eStargz layer puts them " +
              "first, before its prefetch landmark, so the snapshotter fetches them together before the " +
              "rest; a path that is not in the layer is an error. Ignored when the layer is not eStargz.",
    ),
    create_parent_directories = attr.string(
        doc = "enabled writes every missing parent directory into the tar (0755, root, epoch); " +
              "disabled leaves them to the runtime, which creates them when it unpacks the layer; " +
              "auto follows --@rules_img//img/settings:create_parent_directories (default disabled).",
        default = "auto",
        values = ["auto", "enabled", "disabled"],
    ),
    _create_parent_directories = attr.label(default = "//img/settings:create_parent_directories"),
    include_runfiles = attr.bool(
        doc = "Add a binary's runfiles tree beside it, at PATH.runfiles/.",
        default = True,
    ),
    annotations = attr.string_dict(doc = "Annotations on the layer's descriptor in the manifest."),
    diff_id_annotations = attr.string_list(
        doc = "Annotations set to the layer's diffID once it is written, e.g. io.deis.oras.content.digest for ORAS.",
    ),
)

LAYER_TOOLCHAINS = [
    "//img:toolchain_type",
    config_common.toolchain_type(_PY_TOOLCHAIN, mandatory = False),
]

image_layer = rule(
    implementation = _image_layer_impl,
    doc = """Builds one image layer in a single action: the layer blob and its metadata.

Example:
```
image_layer(
    name = "app_layer",
    srcs = {"/app/bin/server": "//cmd/server"},
    symlinks = {"/usr/local/bin/server": "/app/bin/server"},
    file_metadata = {"/app/bin/server": file_metadata(mode = "0755", uid = 1000)},
)
```
The tar is reproducible: sorted entries, parent directories, uid/gid 0 and a
fixed mtime unless metadata says otherwise. Identical files are stored once and
hardlinked.

Modes are decided at analysis, never read from disk, so a layer's digest is the
same whether its action ran locally, in the sandbox or on a remote executor:
a file is 0755 when it is the executable of a target (a binary in srcs, also
through a filegroup, or a binary in those binaries' runfiles), 0644 otherwise,
directories 0755. Files
inside a directory (tree artifact) are 0644. `file_metadata` and
`default_metadata` override these modes.""",
    attrs = dict(
        LAYER_ATTRS,
        srcs = attr.string_keyed_label_dict(
            doc = "Image path -> label. A label is a file, a directory (tree artifact) " +
                  "whose contents go under the path, or a binary (with its runfiles under PATH.runfiles/ " +
                  "when include_runfiles). A target with several files, or a path ending in \"/\", " +
                  "is a directory holding the files under their base names.",
            allow_files = True,
            aspects = [executables_aspect],
        ),
        symlinks = attr.string_dict(doc = "Image path of a symlink -> the path it points to."),
    ),
    toolchains = LAYER_TOOLCHAINS,
)
