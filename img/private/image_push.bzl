"""image_push: `bazel run` pushes an image or index to a registry."""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load(":common/labels.bzl", "display_label")
load(":common/names.bzl", "check_repository", "check_tag")
load(":deploy.bzl", "LAUNCHER_EXEC_GROUPS", "deploy_attrs", "deploy_operation")

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

def _image_push_impl(ctx):
    tags = ([ctx.attr.tag] if ctx.attr.tag else []) + ctx.attr.tag_list
    registry, repository = _destination(ctx)
    for tag in tags:
        check_tag(display_label(ctx.label), tag)
    fields, file_fields = {}, {}
    if ctx.file.destination_file:
        file_fields["destination_file"] = ctx.file.destination_file
    if ctx.file.tag_file:
        file_fields["tag_file"] = ctx.file.tag_file
    if ctx.attr.format != "oci":
        fields["format"] = ctx.attr.format
    return deploy_operation(ctx, "push", repository, tags, registry = registry, fields = fields, file_fields = file_fields).providers

image_push = rule(
    implementation = _image_push_impl,
    doc = """Pushes an image_manifest or image_index with `bazel run`.

Only blobs the registry lacks are uploaded; base layers already in the same
registry are mounted; manifests go last and tags after them, so a tag never
points at an incomplete image. `bazel run //app:push -- --tag X --registry Y
--repository Z` overrides the attributes for one run.""",
    attrs = dict({
        "registry": attr.string(doc = "Registry host[:port], e.g. ghcr.io. May hold templates. " +
                                      "Default: --@rules_img//img/settings:destination_registry."),
        "repository": attr.string(doc = "Repository in the registry, e.g. team/app. May hold templates. Required unless destination_file."),
        "destination_file": attr.label(
            doc = "A file holding REGISTRY/REPOSITORY on one line (e.g. written by a genrule), instead of registry and repository.",
            allow_single_file = True,
        ),
        "_destination_registry": attr.label(default = "//img/settings:destination_registry"),
        "tag": attr.string(doc = "Tag to point at the image. May hold stamp templates."),
        "tag_list": attr.string_list(doc = "More tags."),
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
    }, **deploy_attrs("push", "missing blobs stream from the Bazel remote cache", "//img/settings:push_strategy")),
    executable = True,
    exec_groups = LAUNCHER_EXEC_GROUPS,
    toolchains = ["//img:toolchain_type"],
)
