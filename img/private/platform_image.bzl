"""platform_image: one platform of a pulled image, as rules_oci's NAME_linux_amd64 repositories and rules_docker's @NAME//image give it."""

load(":platforms/platform.bzl", "parse_platform", "platform_name", "same_platform")
load(":providers/providers.bzl", "BaseImageInfo")

def _impl(ctx):
    image = ctx.attr.image[BaseImageInfo]
    want = parse_platform(ctx.attr.platform)
    picked = [m for m in image.manifests if same_platform(m.platform, want)]
    if not picked:
        fail(("%s: %s/%s@%s has no image for %s; it has %s. Ask for one of those: remove %s from oci.pull's " +
              "platforms, or set container_pull's os, architecture and cpu_variant to one of them.") % (
            ctx.label,
            image.registry,
            image.repository,
            image.digest,
            ctx.attr.platform,
            ", ".join([platform_name(m.platform) for m in image.manifests]),
            ctx.attr.platform,
        ))
    return [
        BaseImageInfo(
            registry = image.registry,
            repository = image.repository,
            digest = image.digest,
            manifests = picked,
            access = image.access,
        ),
    ]

platform_image = rule(
    implementation = _impl,
    doc = "The image of one platform of a pulled index: a base with that platform only.",
    attrs = {
        "image": attr.label(mandatory = True, providers = [BaseImageInfo]),
        "platform": attr.string(mandatory = True, doc = "os/arch[/variant]"),
    },
)
