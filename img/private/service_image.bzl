"""service_image: one call from a *_binary to per-platform images, an index, push, load and a tarball."""

load(":image_index.bzl", "image_index")
load(":image_load.bzl", "image_load")
load(":image_manifest_macro.bzl", "image_manifest")
load(":image_push.bzl", "image_push")
load(":layer_from_binary.bzl", "layer_from_binary")

def _platform_names(name, platforms):
    # NAME_<platform's target name>; two platforms of one name would collide.
    seen = {}
    for p in platforms:
        short = native.package_relative_label(p).name
        if short in seen:
            fail("service_image %s: platforms %s and %s are both named %r, so both images would be %s_%s: name the platform targets apart" % (name, seen[short], p, short, name, short))
        seen[short] = p
    return seen

def service_image(
        name,
        binary,
        platforms,
        repository = None,
        registry = None,
        tags = [],
        load_tag = None,
        base = None,
        path = "/",
        include_runfiles = True,
        layers = [],
        visibility = None,
        **kwargs):
    """A service's images, as a team's service-images write-up describes them.

    Generates, for `platforms = ["//platforms:linux_amd64", ...]`:

    | target | what it is |
    |---|---|
    | `NAME` | the image_index over the per-platform images |
    | `NAME_linux_amd64`, ... | one image_manifest per platform (named after each platform target), the binary cross-built for it |
    | `NAME_push` | `bazel run` pushes the index to REGISTRY/REPOSITORY with `tags` |
    | `NAME_load` | `bazel run` loads the host platform's image as `load_tag` into containerd, Docker or podman |
    | `NAME_tarball` | a docker-save tarball of the image for the target platform (`--platforms`; by default the host) |
    | `NAME.layer` | the binary's layer (manual) |

    Every name starts with NAME, so several services share a package.

    Args:
        name: the index target; the prefix of every other target.
        binary: a go_binary or any executable target.
        platforms: platform labels; the binary is built once for each.
        repository: repository in the registry (e.g. team/api). Default: NAME.
        registry: registry host[:port]. Default: the destination_registry setting.
        tags: tags the push points at the index (may hold stamp templates). Default: latest.
        load_tag: the name:tag NAME_load gives the image. Default: REPOSITORY:latest.
        base: base image (a pull, image_manifest or image_index); none: scratch.
        path: where the binary goes; "/" puts it at the root under its own name.
        include_runfiles: add its runfiles tree at PATH.runfiles/ (a static Go
            binary needs none: set False to keep the layer to the binary alone).
        layers: layers between the base and the binary's.
        visibility: visibility of the targets.
        **kwargs: image_manifest attributes (env, labels, user, entrypoint, ...).
    """
    if not platforms:
        fail("service_image %s: platforms is empty: list platform labels, e.g. [\"//platforms:linux_amd64\", \"//platforms:linux_arm64\"]" % name)
    if "tag" in kwargs or "tag_list" in kwargs:
        fail("service_image %s: the push's tags are `tags`; remove tag/tag_list" % name)
    repository = repository or name
    layer_from_binary(
        name = name + ".layer",
        binary = binary,
        path = path,
        include_runfiles = include_runfiles,
        tags = ["manual"],
        visibility = visibility,
    )
    images = []
    for short, platform in _platform_names(name, platforms).items():
        image_manifest(
            name = name + "_" + short,
            base = base,
            layers = list(layers) + [":" + name + ".layer"],
            platform = platform,
            visibility = visibility,
            **kwargs
        )
        images.append(":" + name + "_" + short)
    image_index(
        name = name,
        manifests = images,
        visibility = visibility,
    )
    image_push(
        name = name + "_push",
        image = ":" + name,
        registry = registry,
        repository = repository,
        tag_list = list(tags) or ["latest"],
        visibility = visibility,
    )
    image_load(
        name = name + "_load",
        image = ":" + name,
        tag = load_tag or repository + ":latest",
        visibility = visibility,
    )
    native.filegroup(
        name = name + "_tarball",
        srcs = [":" + name + "_load"],
        output_group = "tarball",
        visibility = visibility,
    )
