"""layer_from_binary: a *_binary and its runfiles as one layer, with the image
config that runs it (entrypoint, cmd from its args, env, working directory)."""

load(":common/labels.bzl", "display_label")
load(":executables.bzl", "executables_aspect")
load(":image_layer.bzl", "LAYER_ATTRS", "LAYER_TOOLCHAINS", "layer_outputs", "write_layer")
load(":providers/providers.bzl", "LayerConfigInfo", "LayerGroupInfo")
load(":runfiles_groups.bzl", "runfiles_groups")

_BinaryRunInfo = provider(
    doc = "What `bazel run` would pass a binary: its args and env, locations expanded.",
    fields = ["args", "env"],
)

def _expand(ctx, target, attribute, value):
    # As `bazel run` does: locations ($(rlocationpath data)), then Make
    # variables ($(CHEESE) from --define, $(TARGET_CPU), ...; $$ is a $).
    if "$" not in value:
        return value
    value = ctx.expand_location(value, targets = [target] + (getattr(ctx.rule.attr, "data", []) or []))
    return ctx.expand_make_variables(attribute, value, {})

def _binary_run_aspect_impl(target, ctx):
    args = [_expand(ctx, target, "args", a) for a in (getattr(ctx.rule.attr, "args", None) or [])]
    env = {k: _expand(ctx, target, "env", v) for k, v in (getattr(ctx.rule.attr, "env", None) or {}).items()}
    if RunEnvironmentInfo in target:
        env = dict(target[RunEnvironmentInfo].environment, **env)
    return [_BinaryRunInfo(args = args, env = env)]

_binary_run_aspect = aspect(
    implementation = _binary_run_aspect_impl,
    doc = "Reads a binary's args and env, as `bazel run` uses them.",
)

def binary_image_path(ctx, binary, path):
    """The binary's absolute path in the image.

    Args:
        ctx: the rule context.
        binary: File, the executable.
        path: "" for its runfiles path (rlocationpath), a path, or a directory
            ending in "/" to put it in under its base name.

    Returns:
        The path, starting with "/".
    """
    if not path:
        if binary.short_path.startswith("../"):
            path = binary.short_path[3:]
        else:
            path = ctx.workspace_name + "/" + binary.short_path
    elif path.endswith("/"):
        path += binary.basename
    return "/" + path.removeprefix("/")

def _layer_from_binary_impl(ctx):
    info = ctx.attr.binary[DefaultInfo]
    executable = info.files_to_run.executable if info.files_to_run else None
    if not executable:
        fail("%s: binary: %s is not an executable target (a *_binary); use image_layer for plain files" % (
            display_label(ctx.label),
            display_label(ctx.attr.binary.label),
        ))
    path = binary_image_path(ctx, executable, ctx.attr.path)
    if ctx.attr.layer_budget < 0:
        fail("%s: layer_budget = %d: use 0 (no limit) or more" % (display_label(ctx.label), ctx.attr.layer_budget))
    groups = runfiles_groups(ctx, path, ctx.attr.binary, ctx.attr.layer_budget)
    if groups:
        # One layer per group, bottom first: a change to the app's files
        # rebuilds and pushes its layer alone.
        layers = [
            write_layer(
                ctx,
                [],
                entries = [item.entry for item in g.items],
                inputs = [depset([item.file for item in g.items if item.file])],
                name = "%s.%d_%s" % (ctx.label.name, i, g.name),
            )
            for i, g in enumerate(groups)
        ]
        layer_providers = [LayerGroupInfo(layers = layers)]
        files = [f for layer in layers for f in layer_outputs(layer)]
    else:
        layer = write_layer(ctx, [(path, ctx.attr.binary)])
        layer_providers = [layer]
        files = layer_outputs(layer)
    run = ctx.attr.binary[_BinaryRunInfo]
    working_dir = None
    if ctx.attr.include_runfiles and ctx.attr.infer_working_dir:
        # Where `bazel run` starts a binary: the main repository's directory
        # in its runfiles tree.
        working_dir = path + ".runfiles/" + ctx.workspace_name
    return [DefaultInfo(files = depset(files))] + layer_providers + [
        LayerConfigInfo(
            entrypoint = [path],
            cmd = run.args or None,
            env = run.env,
            working_dir = working_dir,
        ),
    ]

layer_from_binary = rule(
    implementation = _layer_from_binary_impl,
    doc = """One layer holding a *_binary at `path` and its runfiles at `path.runfiles/`.

It also carries the config that runs the binary, which image_manifest applies
where its own attributes are left alone: the entrypoint is the binary's path,
cmd its `args`, env its `env` (and RunEnvironmentInfo), and the working
directory the main repository's directory in its runfiles (unless
infer_working_dir = False).""",
    attrs = dict(
        LAYER_ATTRS,
        binary = attr.label(
            doc = "The *_binary to package.",
            mandatory = True,
            aspects = [executables_aspect, _binary_run_aspect],
        ),
        path = attr.string(
            doc = "Path of the binary in the image; ending in \"/\", a directory it goes into under its base name. " +
                  "Default: its runfiles path, e.g. _main/cmd/server/server_/server, under the root.",
        ),
        infer_working_dir = attr.bool(
            doc = "Set the working directory to the binary's runfiles (when include_runfiles).",
            default = True,
        ),
        layer_budget = attr.int(
            doc = "Split the binary and its runfiles into layers, at most this many where it can (0: no " +
                  "limit). A binary with RunfilesGroupInfo gets a layer per group, lowest rank lowest; the binary " +
                  "itself joins its executable_group or, without one, takes a layer of its own on top (and one of " +
                  "the budget: 1 then means one layer). Groups merge only with a neighbour of the same rank, the " +
                  "lightest pair first, so distinct ranks can exceed the budget. Any other binary, with " +
                  "layer_budget 2 or more, gets up to three layers: its language runtime, other repositories, and " +
                  "the main repository with the binary, merged from the bottom to fit.",
        ),
    ),
    toolchains = LAYER_TOOLCHAINS,
)
