"""oci_push: rules_oci's oci_push, run by image_push."""

load("//img:push.bzl", "image_push")
load(":common.bzl", "common_attrs", "is_file_value")

_ADVICE = {
    "repotags": "use remote_tags",
}

def split_repository(name, repository):
    """Splits rules_oci's REGISTRY/REPOSITORY as Docker does.

    Args:
        name: the target, for messages.
        repository: e.g. "ghcr.io/team/app" or "team/app" (Docker Hub).

    Returns:
        (registry, repository).
    """
    first, _, rest = repository.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        return first, rest
    if not repository:
        fail("oci_push %s: repository is empty: give REGISTRY/REPOSITORY, e.g. \"ghcr.io/team/app\"" % name)
    return "index.docker.io", (repository if "/" in repository else "library/" + repository)

def oci_push(name, image, repository = None, repository_file = None, remote_tags = None, **kwargs):
    """rules_oci's oci_push: `bazel run` pushes an image or index.

    Only missing blobs are uploaded, base layers of the same registry are
    mounted, and layers the build kept remote stream from the cache. `bazel
    run :NAME -- --repository REGISTRY/REPO --tag T` (or -r, -t) overrides
    the destination and adds a tag.

    Args:
        name: the target name.
        image: an oci_image, oci_image_index or any rules_img image.
        repository: REGISTRY/REPOSITORY, e.g. "ghcr.io/team/app".
        repository_file: instead of repository, a file holding it on one line.
        remote_tags: a list of tags, or the label of a file with one per line.
            None: the image is pushed by digest only.
        **kwargs: common attributes (tags, visibility, testonly, ...).
    """
    common = common_attrs("oci_push", name, kwargs, _ADVICE)
    if (repository == None) == (repository_file == None):
        fail("oci_push %s: set exactly one of repository and repository_file" % name)
    attrs = {}
    if repository != None:
        attrs["registry"], attrs["repository"] = split_repository(name, repository)
    else:
        attrs["destination_file"] = repository_file
    if is_file_value(remote_tags):
        attrs["tag_file"] = remote_tags
    elif remote_tags:
        attrs["tag_list"] = remote_tags
    image_push(name = name, image = image, **dict(attrs, **common))
