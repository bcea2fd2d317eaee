"""layer_from_pkg: rules_pkg's pkg_files, pkg_mklink, pkg_mkdirs and pkg_filegroup as one layer."""

load("@rules_img_pkg_providers//:providers.bzl", "ENABLED", "PackageDirsInfo", "PackageFilegroupInfo", "PackageFilesInfo", "PackageSymlinkInfo")
load(":common/labels.bzl", "display_label")
load(":image_layer.bzl", "LAYER_ATTRS", "LAYER_TOOLCHAINS", "check_image_path", "layer_outputs", "write_layer")

def _metadata(ctx, attributes, origin):
    """rules_pkg's attributes (pkg_attributes) as layer metadata.

    mode, user and group are rules_pkg's own keys; uid and gid are newer
    rules_pkg's. Other keys (such as RPM file tags) mean nothing in a tar.
    """
    meta = {}
    for key, field in (("mode", "mode"), ("user", "uname"), ("group", "gname")):
        value = attributes.get(key)
        if value:
            meta[field] = str(value)
    mode = meta.get("mode", "0")
    if len(mode) > 4 or [c for c in mode.elems() if c not in "01234567"]:
        fail("%s: %s (through srcs) has mode = %r; give an octal string from \"0000\" to \"7777\", e.g. pkg_attributes(mode = \"0755\")" % (
            display_label(ctx.label),
            display_label(origin),
            mode,
        ))
    for key in ("uid", "gid"):
        value = attributes.get(key)
        if value == None or value == "":
            continue
        if type(value) == "string" and value.isdigit():
            value = int(value)
        if type(value) != "int":
            fail("%s: %s (through srcs) has %s = %r; give a number, e.g. pkg_attributes(%s = 1000)" % (
                display_label(ctx.label),
                display_label(origin),
                key,
                value,
                key,
            ))
        meta[key] = value
    return meta

def _path(ctx, dest, origin):
    # rules_pkg destinations are relative to the package root ("usr/bin/x"),
    # sometimes with a leading "/" or "./", and directories may end in "/".
    dest = dest.removeprefix("./")
    if len(dest) > 1:
        dest = dest.removesuffix("/")
    return check_image_path(display_label(ctx.label), dest, "srcs (%s)" % display_label(origin))

def _collect(target):
    """Returns (files, dirs, symlinks): lists of (provider, origin label)."""
    files, dirs, links = [], [], []
    if PackageFilegroupInfo in target:
        group = target[PackageFilegroupInfo]
        files.extend(group.pkg_files)
        dirs.extend(group.pkg_dirs)
        links.extend(group.pkg_symlinks)
    if PackageFilesInfo in target:
        files.append((target[PackageFilesInfo], target.label))
    if PackageDirsInfo in target:
        dirs.append((target[PackageDirsInfo], target.label))
    if PackageSymlinkInfo in target:
        links.append((target[PackageSymlinkInfo], target.label))
    return files, dirs, links

def _layer_from_pkg_impl(ctx):
    if not ENABLED:
        fail("""%s: layer_from_pkg reads rules_pkg's providers, and this workspace has not named them.
rules_img does not depend on rules_pkg; add to your MODULE.bazel:

  bazel_dep(name = "rules_pkg", version = "1.0.1")  # or the version you use
  img_pkg = use_extension("@rules_img//img:extensions.bzl", "rules_pkg_providers")
  img_pkg.use(providers = "@rules_pkg//pkg:providers.bzl")""" % display_label(ctx.label))
    entries = []
    sources = []
    for target in ctx.attr.srcs:
        files, dirs, links = _collect(target)
        for info, origin in files:
            meta = _metadata(ctx, info.attributes, origin)
            for dest, src in info.dest_src_map.items():
                entry = {
                    "path": _path(ctx, dest, origin),
                    "type": "tree" if src.is_directory else "file",
                    "source": src.path,
                }
                if meta:
                    entry["metadata"] = meta
                entries.append(entry)
                sources.append(src)
        for info, origin in dirs:
            meta = _metadata(ctx, info.attributes, origin)
            for dest in info.dirs:
                entry = {"path": _path(ctx, dest, origin), "type": "dir"}
                if meta:
                    entry["metadata"] = meta
                entries.append(entry)
        for info, origin in links:
            if not info.target:
                fail("%s: %s (through srcs) links %s to an empty target" % (display_label(ctx.label), display_label(origin), info.destination))
            entry = {"path": _path(ctx, info.destination, origin), "type": "symlink", "target": str(info.target)}
            meta = _metadata(ctx, info.attributes, origin)

            # A symlink's mode means nothing to a runtime; ownership does.
            meta.pop("mode", None)
            if meta:
                entry["metadata"] = meta
            entries.append(entry)
    layer = write_layer(ctx, [], entries = entries, inputs = [depset(sources)])
    return [DefaultInfo(files = depset(layer_outputs(layer))), layer]

layer_from_pkg = rule(
    implementation = _layer_from_pkg_impl,
    doc = """One layer from rules_pkg's mapping rules, without building a tar first.

Example:
```
load("@rules_pkg//pkg:mappings.bzl", "pkg_attributes", "pkg_files", "pkg_filegroup", "pkg_mkdirs", "pkg_mklink")

pkg_files(
    name = "bin",
    srcs = ["//cmd/server"],
    prefix = "/usr/local/bin",
    attributes = pkg_attributes(mode = "0755"),
)

pkg_mklink(
    name = "link",
    link_name = "/usr/bin/server",
    target = "/usr/local/bin/server",
)

pkg_mkdirs(
    name = "logs",
    dirs = ["/var/log/app"],
    attributes = pkg_attributes(mode = "0700", user = "app"),
)

pkg_filegroup(
    name = "app",
    srcs = [":bin", ":link", ":logs"],
)

layer_from_pkg(
    name = "app_layer",
    srcs = [":app"],
)
```
Each file, directory and symlink keeps the mode, user and group (and, with
newer rules_pkg, uid and gid) its rule declares: pkg_files defaults to 0644,
pkg_mkdirs to 0755. A directory output in pkg_files goes in as its contents,
with the declared mode on its files; its directories stay 0755. `file_metadata`
overrides a path's attributes and `default_metadata` fills in what no rule sets.
Two rules that place the same path are an error.

rules_img does not depend on rules_pkg: a workspace that uses this rule names
rules_pkg's providers once in its MODULE.bazel (see the `rules_pkg_providers`
module extension).""",
    attrs = dict(
        {k: v for k, v in LAYER_ATTRS.items() if k != "include_runfiles"},
        srcs = attr.label_list(
            doc = "pkg_files, pkg_mklink (pkg_symlink), pkg_mkdirs and pkg_filegroup targets.",
            # Without rules_pkg the implementation explains what to add.
            providers = [[PackageFilesInfo], [PackageFilegroupInfo], [PackageSymlinkInfo], [PackageDirsInfo]] if ENABLED else [],
        ),
    ),
    toolchains = LAYER_TOOLCHAINS,
)
