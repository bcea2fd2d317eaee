"""Whether a build is stamped, and the action that fills in stamp templates."""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load(":providers.bzl", "StampSettingInfo")
load(":toolchain.bzl", "img_tool")

def _stamp_setting_impl(ctx):
    flag = ctx.attr.flag[BuildSettingInfo].value
    value = ctx.attr.bazel_stamp if flag == "auto" else flag in _FORCE
    return [StampSettingInfo(value = value)]

stamp_setting = rule(
    implementation = _stamp_setting_impl,
    doc = "Combines Bazel's --stamp with //img/settings:stamp.",
    attrs = {
        "bazel_stamp": attr.bool(mandatory = True),
        "flag": attr.label(mandatory = True, providers = [BuildSettingInfo]),
    },
)

# "force" is upstream rules_img's word; "enabled" was ours first and stays an alias.
_FORCE = ("force", "enabled")

STAMP_ATTRS = {
    "stamp": attr.string(
        doc = "\"auto\" follows --stamp and //img/settings:stamp; \"force\" (alias \"enabled\") and \"disabled\" decide for this target. " +
              "Stamping fills {{.KEY}} templates in tags and the repository from the workspace status " +
              "(e.g. {{.BUILD_USER}}, {{.STABLE_GIT_COMMIT}}).",
        default = "auto",
        values = ["auto", "force", "enabled", "disabled"],
    ),
    "_stamp": attr.label(default = "//img/private:stamp", providers = [StampSettingInfo]),
}

def stamped(ctx, repository, tags):
    """Declares the action that fills stamp templates in, when stamping is on.

    Args:
        ctx: context of a rule with STAMP_ATTRS and the img toolchain.
        repository: string, possibly holding {{.KEY}} templates.
        tags: list of strings, possibly holding templates.

    Returns:
        The File `img stamp` writes, or None when stamping is off or nothing
        needs it.
    """
    on = ctx.attr.stamp in _FORCE or (ctx.attr.stamp == "auto" and ctx.attr._stamp[StampSettingInfo].value)
    if not on or not [s for s in [repository] + tags if "{{" in s]:
        return None
    templates = ctx.actions.declare_file(ctx.label.name + ".stamp_templates.json")
    ctx.actions.write(templates, json.encode({"repository": repository, "tags": tags}))
    out = ctx.actions.declare_file(ctx.label.name + ".stamp.json")
    args = ctx.actions.args()
    args.add("stamp")
    args.add("--target", str(ctx.label))
    args.add("--templates", templates)
    args.add("--status", ctx.info_file)
    args.add("--status", ctx.version_file)
    args.add("--out", out)
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = [templates, ctx.info_file, ctx.version_file],
        outputs = [out],
        mnemonic = "ImageStamp",
        progress_message = "Stamping tags of %{label}",
        toolchain = "//img:toolchain_type",
    )
    return out
