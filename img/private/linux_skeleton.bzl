"""linux_skeleton: the empty directory tree of a Linux base image."""

load(":base_content.bzl", "BASE_CONTENT_ATTRS", "base_content")
load(":common/labels.bzl", "display_label")
load(":image_layer.bzl", "check_image_path")

_GROUPS = {
    "bin_and_lib": "/usr with bin, sbin, lib, share and local, and /bin, /sbin, /lib and /lib64 (links into /usr or directories, per usr_merged).",
    "etc": "/etc.",
    "home": "/home.",
    "mount_points": "/dev, /proc and /sys (0555 for the kernel's file systems), /mnt and /media.",
    "opt_srv": "/opt and /srv.",
    "root": "/root, 0700.",
    "run": "/run and /run/lock (1777).",
    "tmp": "/tmp, 1777.",
    "var": "/var with cache, lib, log, spool and tmp (1777); with run, /var/run and /var/lock link into /run.",
}

def _linux_skeleton_impl(ctx):
    extra = {}
    for path, value in ctx.attr.extra_directories.items():
        path = check_image_path(display_label(ctx.label), path, "extra_directories")
        extra[path] = json.decode(value) if value else {}
    options = {name: getattr(ctx.attr, name) for name in _GROUPS}
    options["usr_merged"] = ctx.attr.usr_merged
    options["extra_directories"] = extra
    return base_content(ctx, "skeleton", "linux", options)

linux_skeleton = rule(
    implementation = _linux_skeleton_impl,
    doc = """The directories of an empty Linux system, for base_image_layer.

Modes are a distribution's: 0755 for what the system owns, 1777 for /tmp,
/var/tmp and /run/lock, 0700 for /root, 0555 for /proc and /sys. Each group of
directories can be left out. Targeting anything but Linux, it describes nothing.

```
linux_skeleton(
    name = "skeleton",
    home = "disabled",
    extra_directories = {"/var/lib/app": file_metadata(mode = "0750", uid = 65532, gid = 65532)},
)
```""",
    attrs = dict(
        BASE_CONTENT_ATTRS,
        usr_merged = attr.bool(
            doc = "/bin, /sbin, /lib and /lib64 are links into /usr, as in every current distribution; " +
                  "False makes them directories. Give system_libraries the same value.",
            default = True,
        ),
        extra_directories = attr.string_dict(
            doc = "More directories: image path -> file_metadata(...) (empty: 0755, root).",
        ),
        **{name: attr.string(
            doc = "auto or enabled creates " + what + " disabled leaves it out.",
            default = "auto",
            values = ["auto", "enabled", "disabled"],
        ) for name, what in _GROUPS.items()}
    ),
    toolchains = ["//img:toolchain_type"],
)
