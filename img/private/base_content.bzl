"""What the base image content rules share: their scope and their one img base action."""

load(":common/labels.bzl", "display_label")
load(":platforms/platform.bzl", "PLATFORM_ATTRS", "known_target_platform")
load(":providers/providers.bzl", "BaseImageContentInfo")
load(":stamp.bzl", "STAMP_ATTRS", "stamping", "template_vars")
load(":toolchain.bzl", "img_args", "img_tool")

# Which target platforms a rule describes something for. Outside its scope a
# rule contributes nothing: one BUILD file serves several platforms without
# a select() around each rule.
SCOPES = {
    "any": [],
    "unix": ["windows"],
    "linux": ["windows", "freebsd"],
}

BASE_CONTENT_ATTRS = dict(
    STAMP_ATTRS,
    **PLATFORM_ATTRS
)

def in_scope(ctx, scope):
    """Whether the target platform is one the rule describes anything for.

    Args:
        ctx: rule context with BASE_CONTENT_ATTRS.
        scope: a key of SCOPES.

    Returns:
        bool; a platform whose os is unknown counts as in scope.
    """
    platform = known_target_platform(ctx)
    return not platform or platform.split("/")[0] not in SCOPES[scope]

def base_content(ctx, verb, scope, options, inputs = [], files = [], outputs = []):
    """Runs img base VERB for a content rule and returns its providers.

    Args:
        ctx: rule context with BASE_CONTENT_ATTRS and the img toolchain.
        verb: img base's verb.
        scope: a key of SCOPES.
        options: dict, the rule's attributes as img base reads them.
        inputs: list of File the options name.
        files: list of File the description's entries copy into the layer.
        outputs: list of File the action writes besides the description, which
            the entries copy too.

    Returns:
        [DefaultInfo, BaseImageContentInfo]; empty outside the scope.
    """
    if not in_scope(ctx, scope):
        return [DefaultInfo(), BaseImageContentInfo(descriptions = depset(), files = depset())]
    options_file = ctx.actions.declare_file(ctx.label.name + ".base_options.json")
    ctx.actions.write(options_file, json.encode(options))
    out = ctx.actions.declare_file(ctx.label.name + ".base.json")
    args = img_args(ctx)
    args.add("base", verb)
    args.add("--target", display_label(ctx.label))
    args.add("--options", options_file)
    args.add("--out", out)
    for key, value in template_vars(ctx).items():
        args.add("--var", "%s=%s" % (key, value))
    action_inputs = [options_file] + inputs
    if stamping(ctx):
        args.add("--status", ctx.info_file)
        args.add("--status", ctx.version_file)
        action_inputs += [ctx.info_file, ctx.version_file]
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = action_inputs,
        outputs = [out] + outputs,
        mnemonic = "ImageBaseContent",
        progress_message = "Describing %{label}",
        toolchain = "//img:toolchain_type",
    )
    return [
        DefaultInfo(files = depset([out])),
        BaseImageContentInfo(descriptions = depset([out]), files = depset(files + outputs)),
    ]

def check_mode(ctx, attr_name):
    """Fails at analysis on a mode attribute that is not octal.

    Args:
        ctx: rule context.
        attr_name: the attribute's name.

    Returns:
        The attribute's value.
    """
    value = getattr(ctx.attr, attr_name)
    if value and (not value.isdigit() or [c for c in value.elems() if c in "89"] or len(value) > 4):
        fail("%s: %s: %r is not an octal mode; write it like \"0644\"" % (display_label(ctx.label), attr_name, value))
    return value

def pairs(d):
    """A dict as img base reads it: a list of {key, value} in the BUILD file's order."""
    return [{"key": k, "value": v} for k, v in d.items()]
