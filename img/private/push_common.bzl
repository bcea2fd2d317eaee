"""What image_push and image_push_spec share: the attributes that say where
and how to push, and the settings they resolve to."""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load(":common/labels.bzl", "display_label")
load(":common/names.bzl", "check_repository", "check_tag")
load(":deploy.bzl", "deploy_attrs", "deploy_settings")

def _destination(ctx):
    # (registry, repository): the attributes, else the settings' registry; a
    # destination_file replaces both at run time.
    label = display_label(ctx.label)
    if ctx.file.destination_file:
        if ctx.attr.registry or ctx.attr.repository:
            fail("%s: destination_file names the registry and repository; remove registry and repository, or destination_file" % label)
        return "", ""
    registry = ctx.attr.registry or ctx.attr._destination_registry[BuildSettingInfo].value
    if not registry:
        fail(("%s: no registry: set registry (e.g. \"ghcr.io\"), destination_file, or " +
              "--@rules_img//img/settings:destination_registry") % label)
    if not ctx.attr.repository:
        fail("%s: no repository: set repository (e.g. \"team/app\") or destination_file" % label)
    check_repository(label, ctx.attr.repository)
    return registry, ctx.attr.repository

def push_settings(ctx):
    """The deploy settings of an image_push or image_push_spec target.

    Args:
        ctx: the rule context.

    Returns:
        dict, from deploy_settings.
    """
    label = display_label(ctx.label)
    tags = ([ctx.attr.tag] if ctx.attr.tag else []) + ctx.attr.tag_list
    registry, repository = _destination(ctx)
    for tag in tags:
        check_tag(label, tag)
    fields, file_fields = {}, {}
    if ctx.file.destination_file:
        file_fields["destination_file"] = ctx.file.destination_file
    if ctx.file.tag_file:
        file_fields["tag_file"] = ctx.file.tag_file
    if ctx.attr.format != "oci":
        fields["format"] = ctx.attr.format
    return deploy_settings(
        ctx,
        "push",
        repository,
        tags,
        registry = registry,
        fields = fields,
        file_fields = file_fields,
        manifest_tags = ctx.attr.manifest_tags,
        tracks_content = ctx.attr.tracks_content,
    )

PUSH_ATTRS = dict({
    "registry": attr.string(doc = "Registry host[:port], e.g. ghcr.io. May hold templates. " +
                                  "Default: --@rules_img//img/settings:destination_registry."),
    "repository": attr.string(doc = "Repository in the registry, e.g. team/app. May hold templates " +
                                    "({{.image_target_package}} and {{.image_target_name}} name the image's target). " +
                                    "Required unless destination_file."),
    "destination_file": attr.label(
        doc = "A file holding REGISTRY/REPOSITORY on one line (e.g. written by a genrule), instead of registry and repository.",
        allow_single_file = True,
    ),
    "_destination_registry": attr.label(default = "//img/settings:destination_registry"),
    "tag": attr.string(doc = "Tag to point at the image. May hold stamp templates."),
    "tag_list": attr.string_list(doc = "More tags."),
    "manifest_tags": attr.string_list(
        doc = "For an image_index: tag templates filled once per manifest of the index with {{.os}}, " +
              "{{.architecture}} (also {{.arch}} and {{.cpu}}) and {{.variant}}, so each tag names one " +
              "platform's image, e.g. \"v1-{{.os}}-{{.architecture}}\". They are written after the index's tags. " +
              "Build settings and stamping fill them too.",
    ),
    "format": attr.string(
        doc = "oci pushes the image as built; docker pushes Docker's v2 schema 2 media types " +
              "(the same config and layer bytes; new manifest digests), for registries or tools that want them.",
        default = "oci",
        values = ["oci", "docker"],
    ),
    "tag_file": attr.label(
        doc = "File with more tags, one per line (for example written by a genrule).",
        allow_single_file = True,
    ),
}, **deploy_attrs("push", "missing blobs stream from the Bazel remote cache", "//img/settings:push_strategy"))
