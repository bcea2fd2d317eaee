"""Whether a build is stamped, and the action that fills in stamp templates."""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load(":providers/providers.bzl", "StampSettingInfo")
load(":toolchain.bzl", "img_args", "img_tool")

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
              "Stamping fills {{.KEY}} templates from the workspace status (e.g. {{.BUILD_USER}}, {{.STABLE_GIT_COMMIT}}).",
        default = "auto",
        values = ["auto", "force", "enabled", "disabled"],
    ),
    "build_settings": attr.string_keyed_label_dict(
        doc = "Template variables from build settings: NAME -> a string_flag (or any BuildSettingInfo) target, " +
              "used as {{.NAME}} in templates. These need no stamping.",
        providers = [BuildSettingInfo],
    ),
    "_stamp": attr.label(default = "//img/private:stamp", providers = [StampSettingInfo]),
}

def stamping(ctx):
    """Whether a rule with STAMP_ATTRS stamps: its attribute, else the settings."""
    return ctx.attr.stamp in _FORCE or (ctx.attr.stamp == "auto" and ctx.attr._stamp[StampSettingInfo].value)

def template_vars(ctx):
    """The build_settings values of a rule with STAMP_ATTRS, by template name."""
    return {name: str(target[BuildSettingInfo].value) for name, target in ctx.attr.build_settings.items()}

def stamped(ctx, name, on, vars, registry, repository, tags, manifest_tags = [], platforms = [], descriptor = None, tracks_content = False):
    """Declares the action that fills templates in, when anything has one.

    Build settings, {{.digest}} (the image's) and a manifest's platform are
    always filled; the workspace status only when stamping is on.

    Args:
        ctx: context of a rule with the img toolchain.
        name: prefix of the declared files' names.
        on: bool, whether the workspace status is read (stamping).
        vars: dict of template variables (build settings, the image's target name).
        registry: string, possibly holding {{.KEY}} templates.
        repository: string, possibly holding templates.
        tags: list of strings, possibly holding templates.
        manifest_tags: list of templates, filled once per manifest of an index.
        platforms: per manifest of the index, its platform variables.
        descriptor: File, the image's descriptor, for {{.digest}}.
        tracks_content: the action depends on the descriptor even when no
            template names the digest, so tags stamped from volatile status
            values are filled again whenever the image changes.

    Returns:
        The File `img stamp` writes, or None when nothing has a template.
    """
    strings = [registry, repository] + tags + manifest_tags
    if not [s for s in strings if "{{" in s]:
        return None
    templates = ctx.actions.declare_file(name + ".stamp_templates.json")
    spec = {
        "registry": registry,
        "repository": repository,
        "tags": tags,
        "vars": vars,
    }
    if manifest_tags:
        spec["manifest_tags"] = manifest_tags
        spec["platforms"] = platforms
    ctx.actions.write(templates, json.encode(spec))
    out = ctx.actions.declare_file(name + ".stamp.json")
    args = img_args(ctx)
    args.add("stamp")
    args.add("--target", str(ctx.label))
    args.add("--templates", templates)
    inputs = [templates]
    if on:
        args.add("--status", ctx.info_file)
        args.add("--status", ctx.version_file)
        inputs += [ctx.info_file, ctx.version_file]
    if descriptor and (tracks_content or [s for s in strings if "digest" in s]):
        args.add("--descriptor", descriptor)
        inputs.append(descriptor)
    args.add("--out", out)
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = inputs,
        outputs = [out],
        mnemonic = "ImageStamp",
        progress_message = "Filling in the tags of %{label}",
        toolchain = "//img:toolchain_type",
    )
    return out
