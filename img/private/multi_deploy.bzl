"""multi_deploy: one `bazel run` for several pushes and loads."""

load(":common/labels.bzl", "display_label")
load(":common/strategies.bzl", "LOAD_STRATEGY_VALUES", "PUSH_STRATEGY_VALUES")
load(":deploy.bzl", "LAUNCHER_EXEC_GROUPS", "deploy_files", "launcher_img", "new_stager", "write_launcher")
load(":providers/providers.bzl", "DeployInfo", "ImageIndexInfo", "ImageManifestInfo")

_KINDS = ["push", "load"]

def _operations(ctx):
    label = display_label(ctx.label)
    for kind in ctx.attr.deploy_operations:
        if kind not in _KINDS:
            fail("%s: deploy_operations: %r is not one of %s" % (label, kind, ", ".join(_KINDS)))
    found = []
    for target in ctx.attr.operations:
        if DeployInfo not in target:
            fail("%s: operations: %s is an image without push_specs or load_specs; give it some, or name an image_push or image_load of it" % (label, display_label(target.label)))
        found += [(target, op) for op in target[DeployInfo].operations]
    ops = [(t, op) for t, op in found if op.operation in ctx.attr.deploy_operations]
    if not ops:
        fail("%s: deploy_operations = %r leaves none of operations (%s) to run; name a kind they are, or drop the filter" % (
            label,
            ctx.attr.deploy_operations,
            ", ".join(["%s (%s)" % (display_label(t.label), op.operation) for t, op in found]),
        ))
    return ops

def _multi_deploy_impl(ctx):
    override = {"push": ctx.attr.push_strategy, "load": ctx.attr.load_strategy}
    specs, runfiles = [], []
    outputs = []
    for i, (_, op) in enumerate(_operations(ctx)):
        wanted = override[op.operation]
        if wanted == "auto" or wanted == op.plan["strategy"]:
            specs.append(op.spec)
            runfiles.append(op.runfiles)
            continue

        # Another strategy changes what the spec names and which files it
        # needs (eager's layers), so the spec is written again here.
        name = "%s.op%d" % (ctx.label.name, i)
        written = deploy_files(ctx, name, dict(op.plan, strategy = wanted), new_stager(ctx, name + ".image"))
        specs.append(written.spec)
        runfiles.append(written.runfiles)
        outputs += written.outputs
    img = launcher_img(ctx)
    launcher = write_launcher(ctx, specs, img)
    return [DefaultInfo(
        executable = launcher,
        files = depset([launcher] + outputs),
        runfiles = ctx.runfiles(files = [img]).merge_all(runfiles),
    )]

multi_deploy = rule(
    implementation = _multi_deploy_impl,
    doc = """Runs several pushes and loads from one `bazel run`, in parallel,
and prints one summary. Flags after `--` apply to every operation.

`operations` takes image_push and image_load targets, and images
(image_manifest, image_index, image_from_binary) that carry push_specs or
load_specs. `deploy_operations` keeps only the pushes or only the loads,
as upstream rules_img's does: `["push"]` for a release job that must not
touch a daemon. `push_strategy` and `load_strategy` replace the strategy of
every push or load.""",
    attrs = {
        "operations": attr.label_list(
            doc = "image_push and image_load targets, and images with push_specs or load_specs.",
            providers = [[DeployInfo], [ImageManifestInfo], [ImageIndexInfo]],
            mandatory = True,
        ),
        "deploy_operations": attr.string_list(
            doc = "Which kinds of operations to run: \"push\", \"load\" or both (the default).",
            default = _KINDS,
        ),
        "push_strategy": attr.string(
            doc = "The strategy of every push, instead of each one's own; \"auto\" (the default) keeps theirs.",
            default = "auto",
            values = ["auto"] + PUSH_STRATEGY_VALUES,
        ),
        "load_strategy": attr.string(
            doc = "The strategy of every load, instead of each one's own; \"auto\" (the default) keeps theirs.",
            default = "auto",
            values = ["auto"] + LOAD_STRATEGY_VALUES,
        ),
    },
    executable = True,
    exec_groups = LAUNCHER_EXEC_GROUPS,
    toolchains = ["//img:toolchain_type"],
)
