"""etc_release: /etc/os-release and, optionally, /etc/lsb-release."""

load(":base_content.bzl", "BASE_CONTENT_ATTRS", "base_content", "check_mode", "pairs")

def _etc_release_impl(ctx):
    return base_content(ctx, "release", "linux", {
        "os_release": pairs(ctx.attr.os_release),
        "os_release_srcs": [f.path for f in ctx.files.os_release_srcs],
        "os_release_path": ctx.attr.os_release_path,
        "usr_lib_path": ctx.attr.usr_lib_path,
        "usr_lib_symlink": ctx.attr.usr_lib_symlink,
        "lsb_release": pairs(ctx.attr.lsb_release),
        "lsb_release_srcs": [f.path for f in ctx.files.lsb_release_srcs],
        "lsb_release_path": ctx.attr.lsb_release_path,
        "write_lsb_release": ctx.attr.write_lsb_release,
        "mode": check_mode(ctx, "mode"),
    }, inputs = ctx.files.os_release_srcs + ctx.files.lsb_release_srcs)

etc_release = rule(
    implementation = _etc_release_impl,
    doc = """os-release, which tells programs and scanners what system the image is.

The file is written to /usr/lib/os-release, and /etc/os-release is a relative
link to it, as os-release(5) asks; usr_lib_symlink = False writes a plain
/etc/os-release. Values are double-quoted and escaped. Targeting anything but
Linux, it describes nothing.

```
etc_release(
    name = "release",
    os_release = {"ID": "acme", "PRETTY_NAME": "ACME base {{.VERSION}}", "VERSION_ID": "{{.VERSION}}"},
    build_settings = {"VERSION": "//settings:version"},
)
```""",
    attrs = dict(
        BASE_CONTENT_ATTRS,
        os_release = attr.string_dict(doc = "os-release keys -> values; {{.KEY}} templates are filled."),
        os_release_srcs = attr.label_list(doc = "os-release files to merge in, in order.", allow_files = True),
        os_release_path = attr.string(doc = "Image path of os-release (or of the link).", default = "/etc/os-release"),
        usr_lib_path = attr.string(doc = "Image path of the file when usr_lib_symlink.", default = "/usr/lib/os-release"),
        usr_lib_symlink = attr.bool(doc = "Write the file under /usr/lib and link to it.", default = True),
        lsb_release = attr.string_dict(doc = "lsb-release keys -> values; {{.KEY}} templates are filled."),
        lsb_release_srcs = attr.label_list(doc = "lsb-release files to merge in, in order.", allow_files = True),
        lsb_release_path = attr.string(doc = "Image path of lsb-release.", default = "/etc/lsb-release"),
        write_lsb_release = attr.bool(doc = "Also write the older lsb-release."),
        mode = attr.string(doc = "Octal mode; empty is 0644."),
    ),
    toolchains = ["//img:toolchain_type"],
)
