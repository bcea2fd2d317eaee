"""system_libraries: shared libraries with their SONAME links and an ld.so.conf.d fragment."""

load(":base_content.bzl", "BASE_CONTENT_ATTRS", "base_content", "check_mode")
load(":common/labels.bzl", "display_label")
load(":image_layer.bzl", "check_image_path")
load(":platforms/platform.bzl", "known_target_platform")

# Debian's multiarch tuples by OCI architecture.
_TUPLES = {
    "amd64": "x86_64-linux-gnu",
    "arm64": "aarch64-linux-gnu",
    "arm": "arm-linux-gnueabihf",
    "386": "i386-linux-gnu",
    "ppc64le": "powerpc64le-linux-gnu",
    "s390x": "s390x-linux-gnu",
    "riscv64": "riscv64-linux-gnu",
}

def _libdir(ctx):
    root = "/usr/lib" if ctx.attr.usr_merged else "/lib"
    layout = ctx.attr.libdir_layout
    if layout == "plain":
        return root
    if layout == "lib64":
        return root + "64"
    platform = known_target_platform(ctx)
    arch = platform.split("/")[1] if platform else ""
    if arch not in _TUPLES:
        fail("%s: libdir_layout = \"multiarch\" needs a target platform with a cpu of %s; got %r. Build with --platforms, or use libdir_layout = \"plain\"" % (
            display_label(ctx.label),
            ", ".join(_TUPLES.keys()),
            platform or "none",
        ))
    return root + "/" + _TUPLES[arch]

def _system_libraries_impl(ctx):
    libdir = _libdir(ctx)
    cache = [ctx.actions.declare_file(ctx.label.name + ".ld.so.cache")] if ctx.attr.ldso_cache else []
    file_metadata = {}
    for path, value in ctx.attr.file_metadata.items():
        file_metadata[check_image_path(display_label(ctx.label), path, "file_metadata")] = json.decode(value)
    return base_content(ctx, "system-libraries", "linux", {
        "libs": [f.path for f in ctx.files.libs],
        "libdir": libdir,
        "ldso_conf": ctx.attr.ldso_conf,
        "ldso_conf_path": "/etc/ld.so.conf.d/%s.conf" % libdir.split("/")[-1],
        "ldso_cache": cache[0].path if cache else "",
        "mode": check_mode(ctx, "mode"),
        "default_metadata": json.decode(ctx.attr.default_metadata) if ctx.attr.default_metadata else None,
        "file_metadata": file_metadata,
    }, inputs = ctx.files.libs, files = ctx.files.libs, outputs = cache)

system_libraries = rule(
    implementation = _system_libraries_impl,
    doc = """Shared libraries where the dynamic linker finds them.

Each library goes into the library directory with a link named after the
SONAME read from its ELF header (libssl.so.3.0.14 gains libssl.so.3), an
/etc/ld.so.conf.d fragment names the directory, and with ldso_cache an
/etc/ld.so.cache lists them. A file that is not an ELF shared
object fails the build. The rule takes files, not CcInfo, so rules_img needs no
rules_cc. Targeting anything but Linux, it describes nothing.

```
system_libraries(
    name = "libs",
    libs = ["@sysroot//:usr/lib/x86_64-linux-gnu/libssl.so.3"],
    libdir_layout = "multiarch",
)
```""",
    attrs = dict(
        BASE_CONTENT_ATTRS,
        libs = attr.label_list(doc = "ELF shared objects.", allow_files = True),
        libdir_layout = attr.string(
            doc = "plain: /usr/lib; lib64: /usr/lib64 (Fedora); multiarch: /usr/lib/<tuple> of the target cpu " +
                  "(Debian, e.g. /usr/lib/x86_64-linux-gnu). Without usr_merged, /lib instead of /usr/lib.",
            default = "plain",
            values = ["plain", "lib64", "multiarch"],
        ),
        usr_merged = attr.bool(
            doc = "Libraries under /usr/lib (True) or /lib; give linux_skeleton the same value.",
            default = True,
        ),
        ldso_conf = attr.bool(doc = "Write the ld.so.conf.d fragment.", default = True),
        ldso_cache = attr.bool(
            doc = "Write /etc/ld.so.cache for the libraries (glibc's current format; musl ignores it): the " +
                  "loader finds them without reading directories. Only these libraries are in it: a cache " +
                  "of a whole image's libraries needs them all in one system_libraries.",
        ),
        mode = attr.string(doc = "Octal mode of the libraries; empty is 0755."),
        default_metadata = attr.string(doc = "file_metadata(...) for every library."),
        file_metadata = attr.string_dict(doc = "Full image path of a library -> file_metadata(...)."),
    ),
    toolchains = ["//img:toolchain_type"],
)
