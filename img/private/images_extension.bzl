"""images: a module extension that pulls base images once, by digest, for every module."""

load(":common/reference_attrs.bzl", "reference_attrs")
load(":pull.bzl", "apparent_name", "pull")

_HUB = "rules_img_images.bzl"

def _repo_name(digest, layer_handling):
    # One repository per image and layer handling, whichever modules ask for
    # it and under whatever names.
    hex = digest.removeprefix("sha256:")
    name = "img_" + hex[:24]
    if layer_handling != "shallow":
        name += "_" + layer_handling
    return name

def _check_digest(module, tag):
    hex = tag.digest.removeprefix("sha256:")
    if not tag.digest.startswith("sha256:") or len(hex) != 64 or [c for c in hex.elems() if c not in "0123456789abcdef"]:
        fail("images.pull(%s) in module %s: digest %r is not sha256:<64 lowercase hex digits>; the extension pulls by digest only (find it with `crane digest %s/%s:%s`)" % (
            tag.name or tag.repository,
            module.name,
            tag.digest,
            tag.registry or "index.docker.io",
            tag.repository,
            tag.tag or "TAG",
        ))

def _settings(mctx):
    settings = {"downloader": "img_tool", "hub_repo": "auto", "image_repos": "auto"}
    for module in mctx.modules:
        if not module.is_root:
            continue
        for tag in module.tags.settings:
            settings = {"downloader": tag.downloader, "hub_repo": tag.hub_repo, "image_repos": tag.image_repos}
    if settings["downloader"] != "img_tool":
        fail("images.settings(downloader = %r): only \"img_tool\" is supported; it pulls shallowly and reads your Docker credentials" % settings["downloader"])
    return settings

def _images_impl(mctx):
    settings = _settings(mctx)
    pulls = {}  # repository name -> pull attributes
    names = {}  # friendly name -> (repository name, digest, module)
    for module in mctx.modules:
        for tag in module.tags.pull:
            _check_digest(module, tag)
            repo = _repo_name(tag.digest, tag.layer_handling)
            name = tag.name or tag.repository
            if name in names and names[name][1] != tag.digest:
                fail("images.pull: %r names two images: %s (module %s) and %s (module %s); give one of them another name" % (
                    name,
                    names[name][1],
                    names[name][2],
                    tag.digest,
                    module.name,
                ))
            names.setdefault(name, (repo, tag.digest, module.name))
            if repo not in pulls:
                attrs = {
                    "digest": tag.digest,
                    "repository": tag.repository,
                    "layer_handling": tag.layer_handling,
                }
                if tag.registry:
                    attrs["registry"] = tag.registry
                if tag.registries:
                    attrs["registries"] = tag.registries
                if tag.tag:
                    attrs["tag"] = tag.tag
                pulls[repo] = attrs
    for repo, attrs in pulls.items():
        pull(name = repo, **attrs)
    if settings["hub_repo"] != "disabled":
        _images_hub(name = _HUB, images = {name: v[0] for name, v in names.items()})
    if settings["image_repos"] == "enabled":
        for name, v in names.items():
            _image_alias(name = _alias_name(name), image = v[0])
    return mctx.extension_metadata(reproducible = True)

def _alias_name(name):
    # "distroless/base" -> "distroless_base": a repository name has no "/".
    return "".join([c if c.isalnum() or c in "-_." else "_" for c in name.elems()])

def _sibling(rctx, repo):
    # The canonical name of another repository of this extension: ours with
    # our apparent name replaced (the separator is ~ or +, by Bazel version).
    apparent = apparent_name(rctx)
    return "@@%s%s//:image" % (rctx.name[:-len(apparent)], repo)

def _hub_impl(rctx):
    rctx.file("BUILD.bazel", 'exports_files(["%s"])\n' % _HUB)
    entries = "".join(["    %r: Label(%r),\n" % (name, _sibling(rctx, repo)) for name, repo in sorted(rctx.attr.images.items())])
    rctx.file(_HUB, """\"\"\"Images pulled by the images extension: image(NAME) is the label of one.\"\"\"

_IMAGES = {
%s}

def image(name):
    \"\"\"Returns the label of the image pulled as name (images.pull's name, else its repository).

    Args:
        name: the name.

    Returns:
        A Label for image_manifest(base = ...).
    \"\"\"
    if name not in _IMAGES:
        fail("image(%%r): no images.pull in MODULE.bazel has that name (or repository); known: %%s" %% (name, ", ".join(sorted(_IMAGES)) or "none"))
    return _IMAGES[name]
""" % entries)

_images_hub = repository_rule(
    implementation = _hub_impl,
    attrs = {"images": attr.string_dict()},
)

def _alias_impl(rctx):
    # @NAME is @NAME//:NAME; both it and :image point at the pulled image.
    name = apparent_name(rctx)
    build = 'package(default_visibility = ["//visibility:public"])\n\nalias(name = "image", actual = %r)\n' % _sibling(rctx, rctx.attr.image)
    if name != "image":
        build += '\nalias(name = %r, actual = ":image")\n' % name
    rctx.file("BUILD.bazel", build)

_image_alias = repository_rule(
    implementation = _alias_impl,
    attrs = {"image": attr.string()},
)

_pull_tag = tag_class(
    doc = "An image to pull, by digest, shallowly unless layer_handling says otherwise.",
    attrs = {
        "name": attr.string(doc = "Name for image(NAME); default: the repository."),
        "registries": attr.string_list(doc = "Mirrors tried in order before registry."),
    } | reference_attrs(digest = "mandatory") | {
        "layer_handling": attr.string(
            default = "shallow",
            values = ["shallow", "eager", "lazy"],
            doc = "As pull's: shallow (no layer bytes), eager (downloaded when pulled) or lazy (by a build action when needed).",
        ),
    },
)

_settings_tag = tag_class(
    doc = "How the root module sees the pulled images.",
    attrs = {
        "downloader": attr.string(default = "img_tool", values = ["img_tool", "bazel"], doc = "Only img_tool is supported."),
        "hub_repo": attr.string(
            default = "auto",
            values = ["auto", "enabled", "disabled"],
            doc = "@rules_img_images.bzl with image(NAME): auto and enabled create it.",
        ),
        "image_repos": attr.string(
            default = "auto",
            values = ["auto", "enabled", "disabled"],
            doc = "enabled also creates a repository per name (\"/\" becomes \"_\") for use_repo; auto and disabled do not.",
        ),
    },
)

images = module_extension(
    implementation = _images_impl,
    doc = """Pulls images for every module, once per digest.

In MODULE.bazel:
```
images = use_extension("@rules_img//img:extensions.bzl", "images")
images.pull(
    name = "ubuntu",
    digest = "sha256:...",
    registry = "index.docker.io",
    repository = "library/ubuntu",
    tag = "24.04",
)
use_repo(images, "rules_img_images.bzl")
```
and in a BUILD file:
```
load("@rules_img_images.bzl", "image")

image_manifest(name = "app", base = image("ubuntu"), ...)
```
Two pulls of the same digest share one repository. Without `name`, the image
is known by its repository ("library/ubuntu"). Each image is a `pull`
repository, so credentials, mirrors and errors work as pull's do.""",
    tag_classes = {"pull": _pull_tag, "settings": _settings_tag},
)
