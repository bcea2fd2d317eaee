"""img_command: `bazel run` one of img's server subcommands (registry, bes), or a signer plugin."""

load(":deploy.bzl", "LAUNCHER_EXEC_GROUPS", "launcher_img", "write_img_script")

def _img_command_impl(ctx):
    img = launcher_img(ctx)
    script = write_img_script(ctx, img, ctx.attr.command)
    return [DefaultInfo(executable = script, runfiles = ctx.runfiles(files = [img]))]

img_command = rule(
    implementation = _img_command_impl,
    doc = """Runs `img COMMAND ARGS...` with the img of the host, so that a server
ships inside the one prebuilt tool and starts with `bazel run`.""",
    attrs = {
        "command": attr.string(
            doc = "The img subcommand.",
            mandatory = True,
            values = ["bes", "registry", "signer cosign", "signer notation"],
        ),
    },
    executable = True,
    exec_groups = LAUNCHER_EXEC_GROUPS,
)
