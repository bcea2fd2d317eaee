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
            doc = "The img tool, built for the execution platform.",
            executable = True,
            cfg = "exec",
            mandatory = True,
        ),
    },
)

def img_tool(ctx):
    """Returns the FilesToRunProvider of the img tool resolved for ctx."""
    return ctx.toolchains["//img:toolchain_type"].img
