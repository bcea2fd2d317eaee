"""What image_push and image_push_spec share: the attributes that say where
and how to push, and the settings they resolve to."""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load(":common/gateway.bzl", "GATEWAY_ATTRS", "gateway_fields")
load(":common/labels.bzl", "display_label")
load(":common/names.bzl", "check_repository", "check_tag")
load(":deploy.bzl", "deploy_attrs", "deploy_settings", strategy_of = "strategy")
load(":providers/providers.bzl", "DeployInfo", "ImageIndexInfo", "ImageManifestInfo", "SigningConfigInfo")

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
    fields.update(_dedup_fields(ctx, label))
    build_time = _build_time(ctx, label)
    if _setting_or_attr(ctx, "forbid_layer_push") == "enabled":
        fields["forbid_layer_push"] = True
    if build_time and build_time["blob_repository"]:
        # The deploy mounts the layers from where the build put them.
        fields["mount_from"] = [build_time["blob_repository"]]
    runfiles = []
    if ctx.attr.cross_mount_from:
        ops = ctx.attr.cross_mount_from[DeployInfo].operations
        pushes = [op for op in ops if op.operation == "push"]
        if len(pushes) != 1:
            fail("%s: cross_mount_from: %s is not one push; name an image_push" % (label, display_label(ctx.attr.cross_mount_from.label)))
        file_fields["cross_mount_from"] = pushes[0].spec
        runfiles.append(pushes[0].runfiles)
    sign = _signing(ctx, label)
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
        runfiles = runfiles + ([sign.config.runfiles] if sign and sign.config.runfiles else []),
    ) | {
        "build_time": build_time,
        "referrers": [t[ImageIndexInfo] if ImageIndexInfo in t else t[ImageManifestInfo] for t in ctx.attr.referrers],
        "sign": sign,
    }

def _signing(ctx, label):
    # struct(mode, config: SigningConfigInfo) this push signs with, or None.
    mode = _setting_or_attr(ctx, "sign")
    if mode == "disabled":
        return None
    config = (ctx.attr.sign_setting or ctx.attr._sign_setting)[SigningConfigInfo]
    if config.label == None:
        if mode == "enabled":
            fail("%s: sign = enabled and no signing_config: set sign_setting, or --@rules_img//img/settings:sign_setting" % label)
        return None
    return struct(mode = mode, config = config)

def _setting_or_attr(ctx, name, unset = "auto"):
    # The attribute, or its setting (the private attribute of the same name)
    # when it holds unset: "auto", or _GLOBAL for the repository attributes,
    # where "auto" could be a repository.
    value = getattr(ctx.attr, name)
    if value == unset:
        return getattr(ctx.attr, "_" + name)[BuildSettingInfo].value
    return value

def _build_time(ctx, label):
    # Push at build time, resolved: None when off.
    mode = _setting_or_attr(ctx, "push_at_build_time")
    if mode == "disabled":
        return None
    if strategy_of(ctx) in ("bes", "cas_registry"):
        fail("%s: push_at_build_time = %r pushes the blobs from the build, and strategy %r pushes them its own way; turn one off" % (
            label,
            mode,
            strategy_of(ctx),
        ))
    repositories = {}
    for name in ("push_at_build_time_blob_repository", "push_at_build_time_manifest_repository"):
        repositories[name] = _setting_or_attr(ctx, name, _GLOBAL)
        if repositories[name]:
            check_repository(label, repositories[name])
    return {
        "gateways": gateway_fields(ctx, label),
        "mode": mode,
        "content": _setting_or_attr(ctx, "push_at_build_time_content"),
        "blob_repository": repositories["push_at_build_time_blob_repository"],
        "manifest_repository": repositories["push_at_build_time_manifest_repository"],
        "exec_properties": ctx.attr.push_at_build_time_exec_properties,
    }

_GLOBAL = "<use global setting>"

def _dedup_fields(ctx, label):
    # deduplicated_push and cross_mount, each attribute resolved through its setting.
    dedup = _setting_or_attr(ctx, "deduplicated_push")
    repository = _setting_or_attr(ctx, "deduplicated_push_blob_repository", _GLOBAL)
    if repository:
        check_repository(label, repository)
    content = _setting_or_attr(ctx, "deduplicated_push_content")
    cross_mount = ctx.attr._cross_mount[BuildSettingInfo].value
    if cross_mount == "cross_registry":
        fail("%s: --@rules_img//img/settings:cross_mount=cross_registry: a registry mounts blobs only from its own repositories; use same_registry or disabled" % label)
    fields = {}
    if dedup != "best_effort":
        fields["deduplicated_push"] = dedup
    if repository:
        fields["deduplicated_push_blob_repository"] = repository
    if content != "blobs":
        if not repository:
            fail("%s: deduplicated_push_content = %r writes its manifests into deduplicated_push_blob_repository; set that too" % (label, content))
        fields["deduplicated_push_content"] = content
    if cross_mount != "same_registry":
        fields["cross_mount"] = cross_mount
    return fields

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
    "deduplicated_push": attr.string(
        doc = "How this push shares blobs with the other pushes of its deploy (multi_deploy, or an image's push_specs): " +
              "\"best_effort\" uploads a blob several repositories need once and mounts it into the rest, uploading " +
              "where the registry refuses a mount; \"enabled\" fails such a push instead (the registry does not mount, " +
              "so the saving is not happening); \"disabled\" pushes on its own. \"auto\": " +
              "//img/settings:deduplicated_push (default best_effort).",
        default = "auto",
        values = ["auto", "enabled", "best_effort", "disabled"],
    ),
    "deduplicated_push_blob_repository": attr.string(
        doc = "A repository of the destination registry that every shared layer is uploaded to once and mounted from. " +
              "Left alone: //img/settings:deduplicated_push_blob_repository; \"\": none.",
        default = _GLOBAL,
    ),
    "deduplicated_push_content": attr.string(
        doc = "\"blobs_and_artificial_manifests\" also writes, in deduplicated_push_blob_repository, an untagged " +
              "manifest referencing each layer, for registries that share a blob only once a manifest references it. " +
              "\"auto\": //img/settings:deduplicated_push_content (default blobs).",
        default = "auto",
        values = ["auto", "blobs", "blobs_and_artificial_manifests"],
    ),
    "cross_mount_from": attr.label(
        doc = "An image_push whose repository (in the same registry) layers are mounted from when it holds them, " +
              "instead of uploading them: for images that share layers with one pushed before.",
        providers = [DeployInfo],
    ),
    "push_at_build_time": attr.string(
        doc = "Push the image from the build: PushImage validation actions, one per blob (and one for the manifests " +
              "and tags in blobs_and_manifests mode), run where the build runs, so with remote execution no layer " +
              "byte passes through this machine. \"enabled\" fails the build when a push fails; \"best_effort\" " +
              "warns; \"disabled\"; \"auto\": //img/settings:push_at_build_time (default disabled).",
        default = "auto",
        values = ["auto", "enabled", "best_effort", "disabled"],
    ),
    "push_at_build_time_content": attr.string(
        doc = "\"blobs\" pushes the layers and configs at build time, and `bazel run` writes the manifests and tags; " +
              "\"blobs_and_manifests\" pushes everything. \"auto\": //img/settings:push_at_build_time_content " +
              "(default blobs_and_manifests).",
        default = "auto",
        values = ["auto", "blobs", "blobs_and_manifests"],
    ),
    "push_at_build_time_blob_repository": attr.string(
        doc = "A staging repository of the destination registry that the build pushes blobs to; the manifest push " +
              "mounts them from there. Left alone: //img/settings:push_at_build_time_blob_repository; \"\": none.",
        default = _GLOBAL,
    ),
    "push_at_build_time_manifest_repository": attr.string(
        doc = "Where the build's manifest push writes the manifests and tags (blobs_and_manifests), instead of repository. " +
              "Left alone: //img/settings:push_at_build_time_manifest_repository; \"\": the image's repository.",
        default = _GLOBAL,
    ),
    "push_at_build_time_exec_properties": attr.string_dict(
        doc = "Execution requirements of the PushImage actions; they reach the registry, so requires-network.",
        default = {"requires-network": "1"},
    ),
    "forbid_layer_push": attr.string(
        doc = "\"enabled\": `bazel run` of this push never uploads a layer's bytes; a layer the registry lacks fails " +
              "the push, naming it (the build should have pushed it). \"auto\": //img/settings:forbid_layer_push " +
              "(default disabled).",
        default = "auto",
        values = ["auto", "enabled", "disabled"],
    ),
    "referrers": attr.label_list(
        doc = "Images whose manifest has this push's image (or one of its manifests) as subject, such as an SBOM " +
              "made with image_manifest(subject = ...): pushed by digest into the same repository after the image " +
              "and before its tags, and listed among its referrers (the registry's Referrers API, else the OCI 1.1 " +
              "fallback tag sha256-HEX).",
        providers = [[ImageManifestInfo], [ImageIndexInfo]],
    ),
    "sign": attr.string(
        doc = "Sign the image after it is pushed and before its tags: \"enabled\" fails the push (writing no tag) " +
              "when signing fails; \"best_effort\" warns and tags; \"disabled\"; \"auto\": //img/settings:sign " +
              "(default disabled).",
        default = "auto",
        values = ["auto", "enabled", "best_effort", "disabled"],
    ),
    "sign_setting": attr.label(
        doc = "The signing_config to sign with. Default: //img/settings:sign_setting.",
        providers = [SigningConfigInfo],
    ),
    "_sign": attr.label(default = "//img/settings:sign"),
    "_sign_setting": attr.label(default = "//img/settings:sign_setting"),
    "_push_at_build_time": attr.label(default = "//img/settings:push_at_build_time"),
    "_push_at_build_time_content": attr.label(default = "//img/settings:push_at_build_time_content"),
    "_push_at_build_time_blob_repository": attr.label(default = "//img/settings:push_at_build_time_blob_repository"),
    "_push_at_build_time_manifest_repository": attr.label(default = "//img/settings:push_at_build_time_manifest_repository"),
    "_forbid_layer_push": attr.label(default = "//img/settings:forbid_layer_push"),
    "_deduplicated_push": attr.label(default = "//img/settings:deduplicated_push"),
    "_deduplicated_push_blob_repository": attr.label(default = "//img/settings:deduplicated_push_blob_repository"),
    "_deduplicated_push_content": attr.label(default = "//img/settings:deduplicated_push_content"),
    "_cross_mount": attr.label(default = "//img/settings:cross_mount"),
}, **(GATEWAY_ATTRS | deploy_attrs("push", "missing blobs stream from the Bazel remote cache", "//img/settings:push_strategy")))
