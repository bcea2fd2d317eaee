"""container_import: rules_docker's container_import, an image from a config and layer tars."""

load("//img:image.bzl", "image_manifest")
load("//img:layer.bzl", "layer_from_tar")
load("//img:macros.bzl", "helper_attrs")
load(":common.bzl", "loader_targets", "split_attrs")

_ADVICE = {
    "manifest": "the manifest is written anew from the config and the layers; remove it",
}

def container_import(name, config, layers, repository = "bazel", platform = None, base_image_registry = "", base_image_repository = "", base_image_digest = "", **kwargs):
    """rules_docker's container_import: the layers of a `docker save` (or any tars) under their config.

    The config's settings (env, entrypoint, cmd, ...) are kept; each layer tar
    becomes a layer in its own compression. `bazel run :NAME` loads the image
    as REPOSITORY:NAME; NAME is the image for container_image's base or a push.

    Args:
        name: the target.
        config: the image config JSON.
        layers: layer tars (plain, gzip or zstd), bottom first.
        repository: name the image loads under (default bazel).
        platform: os/arch[/variant] of the image (container_load reads it from
            the config); default: the target platform's.
        base_image_registry: with base_image_repository, the annotation org.opencontainers.image.base.name.
        base_image_repository: see base_image_registry.
        base_image_digest: the annotation org.opencontainers.image.base.digest.
        **kwargs: common attributes.
    """
    common = split_attrs("container_import", name, kwargs, _ADVICE)
    helper = helper_attrs(common)
    parts = []
    for i, layer in enumerate(layers):
        layer_from_tar(name = "%s.layer_%d" % (name, i), src = layer, **helper)
        parts.append(":%s.layer_%d" % (name, i))

    # Where the image came from, in the OCI annotations for a base.
    annotations = {}
    if base_image_registry and base_image_repository:
        annotations["org.opencontainers.image.base.name"] = base_image_registry + "/" + base_image_repository
    if base_image_digest:
        annotations["org.opencontainers.image.base.digest"] = base_image_digest
    image_manifest(
        name = name + ".manifest",
        layers = parts,
        annotations = annotations,
        config_fragment = config,
        platform = platform,
        **helper
    )
    loader_targets(name, repository, common)
