"""What image_manifest and image_index both return around their image: its
files, its output groups, and the deployments it carries (push_specs,
load_specs) with their push-at-build-time validations."""

load(":deploy.bzl", "carried_operations")
load(":digest.bzl", "digest_file")
load(":push_at_build_time.bzl", "build_time_validations")

def image_providers(ctx, info, files):
    """The providers of an image rule.

    Args:
        ctx: the rule context (it has SPEC_ATTRS and the img toolchain).
        info: the image's ImageManifestInfo or ImageIndexInfo.
        files: its default outputs.

    Returns:
        list of providers.
    """
    deploy, requests = carried_operations(ctx, info)
    return deploy + [
        info,
        DefaultInfo(files = depset(files + requests)),
        OutputGroupInfo(
            oci_layout = depset([info.oci_layout]),
            descriptor = depset([info.descriptor]),
            digest = depset([digest_file(ctx, info.descriptor)]),
            _validation = depset(build_time_validations(ctx, deploy)),
        ),
    ]
