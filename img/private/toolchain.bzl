"""The img toolchain: how rules find the img tool for the execution platform."""

def _img_toolchain_impl(ctx):
    return [platform_common.ToolchainInfo(
        img = ctx.attr.img[DefaultInfo].files_to_run,
    )]

img_toolchain = rule(
    implementation = _img_toolchain_impl,
    doc = "Declares an img binary; register it with toolchain(toolchain_type = \"@rules_img//img:toolchain_type\").",
    attrs = {
        "img": attr.label(
            doc = "The img tool for the execution platform: a prebuilt file or a binary target.",
            allow_files = True,
            executable = True,
            cfg = "exec",
            mandatory = True,
        ),
    },
)

def img_tool(ctx):
    """Returns the FilesToRunProvider of the img tool resolved for ctx."""
    return ctx.toolchains["//img:toolchain_type"].img

def img_args(ctx):
    """A fresh Args for an img action, spilled to a parameter file when long.

    When the command line would pass the system's limit (thousands of files),
    Bazel writes the arguments to a file and runs `img @FILE`. Only then: a
    parameter file is an extra file in bazel-bin, and a failed action should
    leave nothing of its target behind.

    Args:
        ctx: the rule context.

    Returns:
        An Args object.
    """
    args = ctx.actions.args()
    args.use_param_file("@%s", use_always = False)
    args.set_param_file_format("shell")
    return args
