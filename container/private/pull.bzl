"""container_pull: rules_docker's container_pull, a shallow pull with @NAME//image."""

load("//img:macros.bzl", "reference_attrs")
load("//img:pull.bzl", "apparent_name", "pull_repository")

def _impl(rctx):
    name = apparent_name(rctx)
    if rctx.attr.cred_helpers:
        fail("container_pull %s: cred_helpers: name the helper with docker_client_config's credHelpers (docker-credential-NAME on PATH)" % name)
    if rctx.attr.os_features or rctx.attr.os_version or rctx.attr.platform_features:
        fail("container_pull %s: os_features, os_version and platform_features are not supported: pick the image by os, architecture and cpu_variant, or by its digest" % name)
    config = str(rctx.path(rctx.attr.docker_client_config)) if rctx.attr.docker_client_config else ""
    tag = rctx.attr.tag if not rctx.attr.digest else ""
    pull_repository(rctx, struct(
        registry = rctx.attr.registry,
        registries = [],
        repository = rctx.attr.repository,
        tag = tag,
        digest = rctx.attr.digest,
        layer_handling = "shallow",
        credential_helper = "",
        docker_config_path = config,
        insecure = False,
        # rules_docker follows a tag when there is no digest (latest by default).
        unsafe_allow_tag_without_digest = True,
        _img = rctx.attr._img,
    ))
    if not rctx.attr.digest:
        # buildifier: disable=print
        print("container_pull %s: %s/%s:%s is not pinned; add digest = \"sha256:...\" so every build gets the same image" % (
            name,
            rctx.attr.registry,
            rctx.attr.repository,
            tag,
        ))
    platform = "/".join([rctx.attr.os, rctx.attr.architecture] + ([rctx.attr.cpu_variant] if rctx.attr.cpu_variant else []))
    rctx.file("image/BUILD.bazel", "\n".join([
        "# rules_docker's @%s//image: the %s image of the pull." % (name, platform),
        'load("@rules_img//img:pull.bzl", "platform_image")',
        "",
        "platform_image(",
        '    name = "image",',
        "    image = %r," % ("//:" + name),
        "    platform = %r," % platform,
        "    tags = %r," % rctx.attr.import_tags,
        '    visibility = ["//visibility:public"],',
        ")",
        "",
    ]))

container_pull = repository_rule(
    implementation = _impl,
    doc = """rules_docker's container_pull: `@NAME//image` is the image for os/architecture.

Only manifests and configs are downloaded (a shallow pull); layers are
fetched by what needs their bytes. With Bzlmod:
`container_pull = use_repo_rule("@rules_img//container:pull.bzl", "container_pull")`.""",
    attrs = reference_attrs(registry = "mandatory", tag = "followed_latest") | {
        "architecture": attr.string(default = "amd64"),
        "os": attr.string(default = "linux"),
        "cpu_variant": attr.string(),
        "docker_client_config": attr.label(allow_single_file = True, doc = "A Docker config.json with credentials or credHelpers."),
        "cred_helpers": attr.label_list(doc = "Refused: name the helper in docker_client_config."),
        "import_tags": attr.string_list(doc = "Tags of the @NAME//image target."),
        "timeout": attr.int(doc = "Accepted; the pull's own limit is an hour."),
        "os_features": attr.string_list(doc = "Refused: pick by os, architecture and cpu_variant."),
        "os_version": attr.string(doc = "Refused: pick by os, architecture and cpu_variant."),
        "platform_features": attr.string_list(doc = "Refused: pick by os, architecture and cpu_variant."),
        "_img": attr.label(default = Label("@rules_img_host_tool//:img")),
    },
    environ = ["DOCKER_CONFIG", "HOME"],
)
