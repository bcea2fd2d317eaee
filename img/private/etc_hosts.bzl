"""etc_hosts: /etc/hosts."""

load(":base_content.bzl", "BASE_CONTENT_ATTRS", "base_content", "check_mode", "pairs")

def _etc_hosts_impl(ctx):
    return base_content(ctx, "hosts", "linux", {
        "hosts": pairs(ctx.attr.hosts),
        "srcs": [f.path for f in ctx.files.srcs],
        "include_defaults": ctx.attr.include_defaults,
        "mode": check_mode(ctx, "mode"),
        "path": ctx.attr.path,
    }, inputs = ctx.files.srcs)

etc_hosts = rule(
    implementation = _etc_hosts_impl,
    doc = """/etc/hosts, the static table of host names.

An address keeps one line: names given for it by the defaults, srcs and hosts
add up on that line, in that order. Targeting anything but Linux, it describes
nothing.

```
etc_hosts(
    name = "hosts",
    hosts = {"10.0.0.7": "db db.internal"},
)
```""",
    attrs = dict(
        BASE_CONTENT_ATTRS,
        hosts = attr.string_dict(doc = "Address -> space-separated names; {{.KEY}} templates are filled."),
        srcs = attr.label_list(doc = "hosts files to merge in, in order.", allow_files = True),
        include_defaults = attr.bool(
            doc = "Start with netbase's loopback lines (localhost, ip6-localhost, ip6-allnodes, ip6-allrouters).",
            default = True,
        ),
        mode = attr.string(doc = "Octal mode; empty is 0644."),
        path = attr.string(doc = "Image path of the file.", default = "/etc/hosts"),
    ),
    toolchains = ["//img:toolchain_type"],
)
