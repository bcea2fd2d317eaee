"""deb_package: a Debian package's files as base image content."""

load(":base_content.bzl", "in_scope")
load(":common/labels.bzl", "display_label")
load(":platforms/platform.bzl", "PLATFORM_ATTRS")
load(":providers/providers.bzl", "BaseImageContentInfo")
load(":toolchain.bzl", "img_args", "img_tool")

def _deb_package_impl(ctx):
    if not in_scope(ctx, "linux"):
        return [DefaultInfo(), OutputGroupInfo(deb = depset([ctx.file.deb])), BaseImageContentInfo(descriptions = depset(), files = depset())]
    tree = ctx.actions.declare_directory(ctx.label.name + ".files")
    out = ctx.actions.declare_file(ctx.label.name + ".base.json")
    args = img_args(ctx)
    args.add_all(["deb", "extract"])
    args.add("--target", display_label(ctx.label))
    args.add("--deb", ctx.file.deb)
    args.add("--tree", tree.path)
    args.add("--out", out)
    args.add("--status-dir", ctx.attr.status_dir)
    if ctx.attr.usr_merged:
        args.add("--usr-merged")
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = [ctx.file.deb],
        outputs = [tree, out],
        mnemonic = "ImageDebExtract",
        progress_message = "Unpacking %{input} for %{label}",
        toolchain = "//img:toolchain_type",
    )
    return [
        DefaultInfo(files = depset([out])),
        # trust_store's debs reads the package itself.
        OutputGroupInfo(deb = depset([ctx.file.deb])),
        BaseImageContentInfo(descriptions = depset([out]), files = depset([tree])),
    ]

deb_package = rule(
    implementation = _deb_package_impl,
    doc = """A Debian package's files, as a piece for base_image_layer.

Its directories, files and links keep the package's modes and owners; no
maintainer script runs. The control file and md5sums go to status_dir
(/var/lib/dpkg/status.d/PACKAGE, as distroless images keep them), where
scanners and SBOM tools find the package. With usr_merged, /bin, /sbin and
/lib* move under /usr, to sit beside linux_skeleton's links. A file that is
not a .deb fails the build. The `deb` module extension makes one per package
of a lockfile; use this rule for a .deb you have by other means.

```
deb_package(
    name = "libc6",
    deb = "@libc6_deb//file",
)

base_image_layer(
    name = "base",
    srcs = [":skeleton", ":libc6"],
)
```""",
    attrs = dict(
        PLATFORM_ATTRS,
        deb = attr.label(doc = "The .deb file.", allow_single_file = [".deb"], mandatory = True),
        usr_merged = attr.bool(
            doc = "Move /bin, /sbin and /lib* under /usr (merged /usr, linux_skeleton's default).",
            default = True,
        ),
        status_dir = attr.string(
            doc = "Where the control file and md5sums go; empty: nowhere.",
            default = "/var/lib/dpkg/status.d",
        ),
    ),
    toolchains = ["//img:toolchain_type"],
)
