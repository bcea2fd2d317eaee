"""image_from_binary: a *_binary as an image (or an index of one per platform)."""

load(":image_index.bzl", "image_index")
load(":image_manifest_macro.bzl", "image_manifest")
load(":layer_from_binary.bzl", "layer_from_binary")

def image_from_binary(
        name,
        binary,
        path = "",
        include_runfiles = True,
        infer_working_dir = True,
        layers = [],
        kind = "auto",
        platforms = [],
        layer_budget = 0,
        tags = None,
        visibility = None,
        **kwargs):
    """Packages a *_binary into an image, as upstream rules_img's macro does.

    Creates NAME.layer (layer_from_binary: the binary, its runfiles, and the
    config that runs it) and NAME: an image_manifest, or with several
    platforms (or kind = "index") an image_index over NAME.manifest, built
    once per platform so the binary is cross-built for each. The binary's
    layer goes last, after `layers`; every other argument is image_manifest's.

    Args:
        name: the image target.
        binary: the *_binary.
        path: the binary's path in the image ("dir/" puts it in under its base
            name); default its runfiles path under the root.
        include_runfiles: add its runfiles tree at PATH.runfiles/.
        infer_working_dir: make that tree's main repository directory the
            working directory.
        layers: layers below the binary's.
        kind: "auto" (an index for two or more platforms), "manifest" or "index".
        platforms: platform labels to build for; none: the target platform.
        layer_budget: layer_from_binary's: split the binary's runfiles into
            layers by group (RunfilesGroupInfo, else runtime, other
            repositories, main repository) within this many layers.
        tags: tags of NAME (the helpers are also "manual").
        visibility: visibility of the targets.
        **kwargs: image_manifest attributes (base, env, labels, user, ...).
    """
    if kind not in ("auto", "manifest", "index"):
        fail("image_from_binary %s: kind = %r: use \"auto\", \"manifest\" or \"index\"" % (name, kind))
    if kind == "manifest" and len(platforms) > 1:
        fail("image_from_binary %s: kind = \"manifest\" takes at most one platform, got %d; use kind = \"index\"" % (name, len(platforms)))
    if layer_budget < 0:
        fail("image_from_binary %s: layer_budget = %d: use 0 (no limit) or more" % (name, layer_budget))
    helper_tags = list(tags or [])
    if "manual" not in helper_tags:
        helper_tags.append("manual")
    layer_from_binary(
        name = name + ".layer",
        binary = binary,
        path = path,
        include_runfiles = include_runfiles,
        infer_working_dir = infer_working_dir,
        layer_budget = layer_budget,
        tags = helper_tags,
        visibility = visibility,
    )
    index = kind == "index" or (kind == "auto" and len(platforms) > 1)

    # What deploys the image goes on the target users name: the index, when there is one.
    index_kwargs = {}
    if index:
        for key in ("push_specs", "load_specs"):
            if key in kwargs:
                index_kwargs[key] = kwargs.pop(key)
    image_manifest(
        name = name + ".manifest" if index else name,
        layers = list(layers) + [":" + name + ".layer"],
        platform = platforms[0] if platforms and not index else None,
        tags = helper_tags if index else tags,
        visibility = visibility,
        **kwargs
    )
    if index:
        image_index(
            name = name,
            manifests = [":" + name + ".manifest"],
            platforms = platforms,
            tags = tags,
            visibility = visibility,
            **index_kwargs
        )
