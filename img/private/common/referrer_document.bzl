"""What image_sbom and image_provenance share: the image's parts, and the
artifact that attaches a document to the image as a referrer."""

load("//img/private:image_manifest_macro.bzl", "image_manifest")
load("//img/private:layer_from_file.bzl", "layer_from_file")
load("//img/private:providers/providers.bzl", "ImageIndexInfo", "ImageManifestInfo")

def image_parts(target):
    """The descriptor and the manifests of an image target.

    Args:
        target: an image_manifest or image_index.

    Returns:
        (descriptor File, list of ImageManifestInfo).
    """
    if ImageIndexInfo in target:
        info = target[ImageIndexInfo]
        return info.descriptor, info.manifests
    info = target[ImageManifestInfo]
    return info.descriptor, [info]

def base_manifest(m):
    """The pulled base manifest an image was built on.

    Args:
        m: ImageManifestInfo.

    Returns:
        The base's manifest struct of the same platform, or None.
    """
    if not m.base:
        return None
    same = [b for b in m.base.manifests if b.platform == m.platform]
    if len(same) == 1:
        return same[0]
    return m.base.manifests[0] if len(m.base.manifests) == 1 else None

def pulled_bases(manifests):
    """The pulled bases of images.

    Args:
        manifests: list of ImageManifestInfo.

    Returns:
        list of dicts of registry, repository and digest, each base once.
    """
    bases = {}
    for m in manifests:
        if m.base:
            bases[m.base.digest] = {"registry": m.base.registry, "repository": m.base.repository, "digest": m.base.digest}
    return [bases[d] for d in sorted(bases)]

def referrer_artifact(name, document, media_type, image, visibility, tags, **kwargs):
    """NAME: an artifact whose one layer is document, with subject = image.

    Args:
        name: the artifact's target name.
        document: label of the document file.
        media_type: the document's media type, also the artifact's type.
        image: the image it refers to.
        visibility: of the artifact.
        tags: of the targets.
        **kwargs: more image_manifest attributes.
    """
    layer_from_file(
        name = name + "_layer",
        src = document,
        media_type = media_type,
        base_name_annotations = ["org.opencontainers.image.title"],
        visibility = ["//visibility:private"],
        tags = tags,
    )
    image_manifest(
        name = name,
        artifact_type = media_type,
        config_media_type = "application/vnd.oci.empty.v1+json",
        layers = [name + "_layer"],
        subject = image,
        visibility = visibility,
        tags = tags,
        **kwargs
    )
