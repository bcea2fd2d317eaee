"""multi_deploy: one `bazel run` for several pushes and loads."""

load(":common/labels.bzl", "display_label")
load(":deploy.bzl", "LAUNCHER_EXEC_GROUPS", "launcher_img", "write_launcher")
load(":providers/providers.bzl", "DeployInfo")

_KINDS = ["push", "load"]

def _multi_deploy_impl(ctx):
    for kind in ctx.attr.deploy_operations:
        if kind not in _KINDS:
            fail("%s: deploy_operations: %r is not one of %s" % (display_label(ctx.label), kind, ", ".join(_KINDS)))
    ops = [op for op in ctx.attr.operations if op[DeployInfo].operation in ctx.attr.deploy_operations]
    if not ops:
        fail("%s: deploy_operations = %r leaves none of operations (%s) to run; name a kind they are, or drop the filter" % (
            display_label(ctx.label),
            ctx.attr.deploy_operations,
            ", ".join(["%s (%s)" % (display_label(op.label), op[DeployInfo].operation) for op in ctx.attr.operations]),
        ))
    img = launcher_img(ctx)
    launcher = write_launcher(ctx, [op[DeployInfo].spec for op in ops], img)
    runfiles = ctx.runfiles(files = [img]).merge_all([op[DefaultInfo].default_runfiles for op in ops])
    return [DefaultInfo(executable = launcher, runfiles = runfiles)]

multi_deploy = rule(
    implementation = _multi_deploy_impl,
    doc = """Runs several image_push and image_load targets from one `bazel run`,
in parallel, and prints one summary. Flags after `--` apply to every operation.

`deploy_operations` keeps only the pushes or only the loads of `operations`,
as upstream rules_img's: `["push"]` for a release job that must not touch a
daemon.""",
    attrs = {
        "operations": attr.label_list(
            doc = "image_push and image_load targets.",
            providers = [DeployInfo],
            mandatory = True,
        ),
        "deploy_operations": attr.string_list(
            doc = "Which kinds of operations to run: \"push\", \"load\" or both (the default).",
            default = _KINDS,
        ),
    },
    executable = True,
    exec_groups = LAUNCHER_EXEC_GROUPS,
)
