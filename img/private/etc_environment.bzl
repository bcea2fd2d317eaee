"""etc_environment: /etc/environment."""

load(":base_content.bzl", "BASE_CONTENT_ATTRS", "base_content", "check_mode", "pairs")

def _etc_environment_impl(ctx):
    return base_content(ctx, "environment", "linux", {
        "env": pairs(ctx.attr.env),
        "srcs": [f.path for f in ctx.files.srcs],
        "mode": check_mode(ctx, "mode"),
        "path": ctx.attr.path,
        "quote": ctx.attr.quote,
    }, inputs = ctx.files.srcs)

etc_environment = rule(
    implementation = _etc_environment_impl,
    doc = """/etc/environment, the variables PAM sets for every login.

One `KEY="value"` per line. PAM does not run the file, so values are taken
literally: nothing is expanded. A later src wins over an earlier one, and env
over all of them. Targeting anything but Linux, it describes nothing.

The image config's env (image_manifest's env) is what a container process gets;
this file matters to what logs in through PAM.

```
etc_environment(
    name = "environment",
    env = {"LANG": "C.UTF-8", "TZ": "UTC"},
)
```""",
    attrs = dict(
        BASE_CONTENT_ATTRS,
        env = attr.string_dict(doc = "Name -> value; {{.KEY}} templates are filled."),
        srcs = attr.label_list(doc = "environment files to merge in, in order.", allow_files = True),
        mode = attr.string(doc = "Octal mode; empty is 0644."),
        path = attr.string(doc = "Image path of the file.", default = "/etc/environment"),
        quote = attr.bool(doc = "Put values in double quotes, as distributions do.", default = True),
    ),
    toolchains = ["//img:toolchain_type"],
)
