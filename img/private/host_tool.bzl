"""The img tool for repository rules, built from source on the host.

Repository rules (pull) run before any build action exists, so they cannot use
the img toolchain. This repository compiles cmd/img once with rules_go's
host-compatible Go SDK, the way gazelle builds its own repository tools.
"""

load("@go_host_compatible_sdk_label//:defs.bzl", "HOST_COMPATIBLE_SDK")

def _img_host_tool_impl(rctx):
    src = rctx.path(Label("//:go.mod")).dirname
    go = rctx.path(HOST_COMPATIBLE_SDK).dirname.get_child("bin").get_child("go")

    # Rebuild when the tool's sources change, not only go.mod.
    for tree in ("cmd/img", "pkg"):
        rctx.watch_tree(src.get_child(tree))
    rctx.watch(src.get_child("go.sum"))

    env = {
        "CGO_ENABLED": "0",
        "GOFLAGS": "-mod=readonly",
        "GOTOOLCHAIN": "local",
    }
    rctx.report_progress("Building the img tool for repository rules")
    result = rctx.execute(
        [go, "build", "-trimpath", "-o", rctx.path("img"), "./cmd/img"],
        working_directory = str(src),
        environment = env,
        timeout = 1800,
    )
    if result.return_code != 0:
        fail("building the img tool for repository rules (go build ./cmd/img in %s) failed:\n%s%s" % (
            src,
            result.stdout,
            result.stderr,
        ))
    rctx.file("BUILD.bazel", 'exports_files(["img"])\n')

img_host_tool = repository_rule(
    implementation = _img_host_tool_impl,
    doc = "Builds img for the host so repository rules can run it.",
    # Module downloads go through the Go module proxy the user configured.
    environ = ["GOPROXY", "GOPRIVATE", "GONOSUMDB"],
)

def _host_tool_extension_impl(module_ctx):
    img_host_tool(name = "rules_img_host_tool")
    return module_ctx.extension_metadata(reproducible = True)

host_tool = module_extension(
    implementation = _host_tool_extension_impl,
    doc = "Creates @rules_img_host_tool, the img binary repository rules run.",
)
