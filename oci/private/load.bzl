"""oci_load: rules_oci's oci_load, run by image_load."""

load("//img:load.bzl", "image_load")
load(":common.bzl", "common_attrs", "is_file_value")

_ADVICE = {
    "loader": "image_load finds containerd, Docker or podman itself; choose one with --@rules_img//img/settings:load_daemon or `-- --daemon NAME`",
}

def oci_load(name, image, repo_tags = None, format = "docker", **kwargs):
    """rules_oci's oci_load: `bazel run` loads an image into a container daemon.

    containerd (and Docker on containerd's store) get only the blobs they lack;
    Docker's classic store gets `docker load`; podman `podman load`. For an
    index, the host's platform is loaded. Output group `tarball` is a
    docker-save tarball.

    Args:
        name: the target name.
        image: an oci_image, oci_image_index or any rules_img image.
        repo_tags: references such as ["app:latest"]; the first names the image.
        format: "docker" or "oci"; the daemon decides what it takes, so both load the same.
        **kwargs: common attributes (tags, visibility, testonly, ...).
    """
    common = common_attrs("oci_load", name, kwargs, _ADVICE)
    if format not in ("docker", "oci"):
        fail("oci_load %s: format = %r: use \"docker\" or \"oci\"" % (name, format))
    if is_file_value(repo_tags):
        fail("oci_load %s: repo_tags from a file is not supported here; list them, e.g. [\"app:latest\"]" % name)
    repo_tags = repo_tags or []
    image_load(
        name = name,
        image = image,
        tag = repo_tags[0] if repo_tags else "",
        tag_list = repo_tags[1:],
        **common
    )
