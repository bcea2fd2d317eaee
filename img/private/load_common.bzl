"""What image_load and image_load_spec share: the attributes that say how to
load and under which names, and the settings they resolve to."""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load(":common/labels.bzl", "display_label")
load(":common/names.bzl", "check_repository")
load(":deploy.bzl", "deploy_attrs", "deploy_settings")

def load_names(ctx, default_repository):
    """(repository, tags) of an image_load or image_load_spec.

    Args:
        ctx: the rule context.
        default_repository: the repository when the attribute is empty.

    Returns:
        (string, list of strings).
    """
    repository = ctx.attr.repository or default_repository
    if ctx.attr.registry:
        if not ctx.attr.repository:
            fail("%s: registry %r needs repository too: the image is named REGISTRY/REPOSITORY:TAG" % (display_label(ctx.label), ctx.attr.registry))
        check_repository(display_label(ctx.label), ctx.attr.repository)
        repository = ctx.attr.registry + "/" + ctx.attr.repository
    tags = ([ctx.attr.tag] if ctx.attr.tag else []) + ctx.attr.tag_list
    return repository, tags or ([] if ctx.file.tag_file else ["latest"])

def load_settings(ctx, repository, tags):
    """The deploy settings of an image_load or image_load_spec target.

    Args:
        ctx: the rule context.
        repository: from load_names.
        tags: from load_names.

    Returns:
        dict, from deploy_settings.
    """
    daemon = ctx.attr.daemon
    if daemon == "auto":
        daemon = ctx.attr._load_daemon[BuildSettingInfo].value
    file_fields = {"tag_file": ctx.file.tag_file} if ctx.file.tag_file else {}
    return deploy_settings(
        ctx,
        "load",
        repository,
        tags,
        fields = {"daemon": daemon},
        file_fields = file_fields,
        tracks_content = ctx.attr.tracks_content,
    )

LOAD_ATTRS = dict({
    "registry": attr.string(doc = "With repository: name the image REGISTRY/REPOSITORY:TAG in the daemon, as a push would."),
    "repository": attr.string(doc = "Name of the image in the daemon, e.g. my/app. Default: the image_load target's package " +
                                    "(or its name at the root); for image_load_spec, the image's."),
    "tag": attr.string(doc = "Tag, or a full reference (name:tag). Default: latest. May hold templates."),
    "tag_list": attr.string_list(doc = "More tags or references."),
    "tag_file": attr.label(
        doc = "File with more tags or references, one per line (for example written by a genrule).",
        allow_single_file = True,
    ),
    "daemon": attr.string(
        doc = "\"containerd\", \"docker\", \"podman\", \"tar\" (write a docker-save tarball to --output), " +
              "or \"auto\": //img/settings:load_daemon, whose own auto tries containerd, Docker, then podman.",
        default = "auto",
        values = ["auto", "docker", "containerd", "podman", "tar"],
    ),
    "_load_daemon": attr.label(default = "//img/settings:load_daemon"),
}, **deploy_attrs("load", "blobs the daemon lacks stream from the Bazel remote cache", "//img/settings:load_strategy"))
