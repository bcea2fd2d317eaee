"""An aspect that finds the image behind a filegroup, such as rules_oci's
platform_transition_filegroup of an oci_image, which passes on only files."""

load(":providers/providers.bzl", "ImageIndexInfo", "ImageManifestInfo")

ForwardedImageInfo = provider(
    doc = "The image a filegroup-like target holds, found by forwarded_image_aspect.",
    fields = {"info": "ImageManifestInfo or ImageIndexInfo (built in the filegroup's configuration)."},
)

def _found(target):
    if ImageIndexInfo in target:
        return target[ImageIndexInfo]
    if ImageManifestInfo in target:
        return target[ImageManifestInfo]
    if ForwardedImageInfo in target:
        return target[ForwardedImageInfo].info
    return None

def _impl(target, ctx):
    if ImageIndexInfo in target or ImageManifestInfo in target:
        return []

    # Only a target that holds exactly one image stands for it; a filegroup
    # of two images is no image.
    found = []
    for attr in ("srcs", "actual", "image"):
        deps = getattr(ctx.rule.attr, attr, None)
        if deps == None:
            continue
        for dep in (deps if type(deps) == "list" else [deps]):
            if type(dep) == "Target" and _found(dep) != None:
                found.append(_found(dep))
    if len(found) != 1:
        return []
    return [ForwardedImageInfo(info = found[0])]

forwarded_image_aspect = aspect(
    implementation = _impl,
    attr_aspects = ["srcs", "actual", "image"],
    doc = "Finds the one image behind a filegroup or transition (e.g. platform_transition_filegroup).",
)

def image_of(target):
    """The ImageManifestInfo or ImageIndexInfo of target, or of the one image it wraps; None if neither."""
    return _found(target)
