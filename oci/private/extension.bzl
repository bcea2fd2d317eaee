"""The oci module extension: rules_oci's oci.pull, pulled shallowly by rules_img's pull."""

load("//img:macros.bzl", "reference_attrs")
load("//img:pull.bzl", "pull")
load(":push.bzl", "split_repository")

def _platform_repo_impl(rctx):
    rctx.file("BUILD.bazel", "\n".join([
        'load("@rules_img//img:pull.bzl", "platform_image")',
        "",
        "platform_image(",
        "    name = %r," % rctx.attr.apparent_name,
        "    image = %r," % rctx.attr.image,
        "    platform = %r," % rctx.attr.platform,
        '    visibility = ["//visibility:public"],',
        ")",
        "",
    ]))

_platform_repo = repository_rule(
    implementation = _platform_repo_impl,
    attrs = {
        "apparent_name": attr.string(mandatory = True),
        "image": attr.string(mandatory = True, doc = "@NAME//:NAME: repositories of one extension see each other."),
        "platform": attr.string(mandatory = True),
    },
)

def _oci_impl(mctx):
    for module in mctx.modules:
        for tag in module.tags.pull:
            if not tag.digest and not tag.tag:
                fail("oci.pull(%s): set digest (or tag): %s names no image" % (tag.name, tag.image))
            registry, repository = split_repository(tag.name, tag.image)
            pull(
                name = tag.name,
                registry = registry,
                repository = repository,
                digest = tag.digest,
                tag = tag.tag,
                # rules_oci follows a bare tag (and warns); so does the door.
                unsafe_allow_tag_without_digest = not tag.digest,
            )
            if not tag.digest:
                # buildifier: disable=print
                print("oci.pull(%s): %s:%s is not pinned; add digest = \"sha256:...\" so every build gets the same image" % (tag.name, tag.image, tag.tag))
            for platform in tag.platforms:
                name = tag.name + "_" + platform.replace("/", "_")
                _platform_repo(
                    name = name,
                    apparent_name = name,
                    image = "@%s//:%s" % (tag.name, tag.name),
                    platform = platform,
                )
    return mctx.extension_metadata(reproducible = True)

_pull = tag_class(
    doc = "Pulls an image shallowly: repository NAME, and NAME_<os>_<arch>[_<variant>] per platform.",
    attrs = {
        "name": attr.string(mandatory = True, doc = "Repository name."),
        "image": attr.string(mandatory = True, doc = "REGISTRY/REPOSITORY, e.g. gcr.io/distroless/static-debian12."),
    } | reference_attrs(registry = None, with_repository = False, tag = "followed") | {
        "platforms": attr.string_list(doc = "Platforms such as linux/amd64 and linux/arm64/v8, one repository each."),
    },
)

oci = module_extension(
    implementation = _oci_impl,
    doc = "rules_oci's oci extension: oci.pull(name, image, digest | tag, platforms).",
    tag_classes = {"pull": _pull},
)
