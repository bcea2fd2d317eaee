"""multi_deploy: one `bazel run` for several pushes and loads."""

load(":deploy.bzl", "LAUNCHER_EXEC_GROUPS", "launcher_img", "write_launcher")
load(":providers/providers.bzl", "DeployInfo")

def _multi_deploy_impl(ctx):
    img = launcher_img(ctx)
    specs = [op[DeployInfo].spec for op in ctx.attr.operations]
    launcher = write_launcher(ctx, specs, img)
    runfiles = ctx.runfiles(files = [img]).merge_all([op[DefaultInfo].default_runfiles for op in ctx.attr.operations])
    return [DefaultInfo(executable = launcher, runfiles = runfiles)]

multi_deploy = rule(
    implementation = _multi_deploy_impl,
    doc = """Runs several image_push and image_load targets from one `bazel run`,
in parallel, and prints one summary. Flags after `--` apply to every operation.""",
    attrs = {
        "operations": attr.label_list(
            doc = "image_push and image_load targets.",
            providers = [DeployInfo],
            mandatory = True,
        ),
    },
    executable = True,
    exec_groups = LAUNCHER_EXEC_GROUPS,
)
