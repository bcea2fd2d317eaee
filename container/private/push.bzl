"""container_push: rules_docker's container_push, as image_push."""

load("//img:push.bzl", "image_push")
load(":common.bzl", "split_attrs", "stamp_value")

_ADVICE = {
    "repository_file": "name the registry and repository in one file with image_push's destination_file, or set repository",
    "insecure_repository": "loopback registries are reached over plain HTTP anyway; for others, serve TLS",
}

def container_push(
        name,
        image,
        registry,
        repository,
        tag = "latest",
        tag_file = None,
        format = "Docker",
        stamp = None,
        skip_unchanged_digest = False,
        windows_paths = False,
        extension = "",
        **kwargs):
    """rules_docker's container_push: `bazel run` pushes the image.

    Only blobs the registry lacks are uploaded (skip_unchanged_digest is
    always so), base layers in the same registry are mounted, and the tag
    goes last. format = "Docker" (rules_docker's default) pushes Docker's
    v2 schema 2 media types; "OCI" pushes the image as built.

    Args:
        name: the target.
        image: a container_image, or any rules_img image or index.
        registry: registry host[:port]; may hold {KEY} stamp variables.
        repository: repository; may hold {KEY} stamp variables.
        tag: the tag (default latest); may hold {KEY} stamp variables.
        tag_file: a file holding the tag, instead of tag.
        format: "Docker" or "OCI".
        stamp: True, False or rules_docker's //stamp labels.
        skip_unchanged_digest: accepted; unchanged blobs are never uploaded.
        windows_paths: False only.
        extension: accepted; the launcher is a shell script.
        **kwargs: common attributes.
    """
    common = split_attrs("container_push", name, kwargs, _ADVICE)
    if format not in ("Docker", "OCI"):
        fail("container_push %s: format = %r: use \"Docker\" or \"OCI\"" % (name, format))
    if skip_unchanged_digest not in (True, False) or extension not in ("", ".sh", "sh"):
        fail("container_push %s: skip_unchanged_digest takes a bool and extension \"\" or \".sh\" (the launcher is a shell script)" % name)
    if windows_paths:
        fail("container_push %s: windows_paths = True is not supported" % name)
    attrs = {"tag_file": tag_file} if tag_file else {"tag": _template(tag)}
    image_push(
        name = name,
        image = image,
        registry = _template(registry),
        repository = _template(repository),
        format = format.lower(),
        stamp = stamp_value("container_push", name, stamp),
        **dict(attrs, **common)
    )

def _template(value):
    # rules_docker's {BUILD_USER} is rules_img's {{.BUILD_USER}}.
    if "{" not in value or "{{" in value:
        return value
    return value.replace("{", "{{.").replace("}", "}}")
