"""oci_image: rules_oci's oci_image, built by image_manifest."""

load("//img:image.bzl", "image_manifest")
load(":common.bzl", "common_attrs", "derived_attrs", "helper_attrs", "is_file_value")
load(":layout_image.bzl", "oci_layout_image")

_LISTS = ["entrypoint", "cmd", "exposed_ports", "volumes"]
_DICTS = ["env", "labels", "annotations"]

_ADVICE = {
    "resource_set": "image_manifest's actions are small; drop it",
}

def _platform(name, os, architecture, variant):
    if not os and not architecture:
        if variant:
            fail("oci_image %s: variant = %r needs os and architecture" % (name, variant))
        return None
    if not os or not architecture:
        fail("oci_image %s: set both os and architecture (e.g. \"linux\" and \"arm64\"), or neither to take the base's or the target platform's" % name)
    return "/".join([os, architecture] + ([variant] if variant else []))

def oci_image(
        name,
        base = None,
        tars = [],
        entrypoint = None,
        cmd = None,
        env = None,
        labels = None,
        annotations = None,
        user = None,
        workdir = None,
        exposed_ports = None,
        volumes = None,
        os = None,
        architecture = None,
        variant = None,
        created = None,
        **kwargs):
    """rules_oci's oci_image: tars on a base, with the config rules_oci 2.x takes.

    Builds NAME.manifest (an image_manifest: the tars become layers as they
    are, one action each; a base from oci.pull stays shallow) and NAME, whose
    default output is the image's OCI layout directory, as in rules_oci. NAME
    also works wherever rules_img takes an image (image_push, image_load,
    image_index, base). NAME.digest holds the image's sha256:... digest.

    entrypoint, cmd, exposed_ports and volumes take a list or the label of a
    file with a comma-separated list; env, labels and annotations a dict or
    the label of a file of NAME=VALUE lines. Without os and architecture the
    image takes its base's platform when the base has one, else the target
    platform's.

    Args:
        name: the target name.
        base: an oci_image, oci_image_index, oci.pull repository or any rules_img image.
        tars: tar files (plain, gzip or zstd), bottom first; each becomes one layer.
        entrypoint: list or file label.
        cmd: list or file label.
        env: dict or file label; $VAR and ${VAR} expand to the base's values.
        labels: dict or file label.
        annotations: dict or file label (manifest annotations).
        user: user[:group] the process runs as.
        workdir: working directory.
        exposed_ports: list or file label, e.g. ["8080/tcp"].
        volumes: list or file label.
        os: e.g. "linux"; with architecture, the image's platform.
        architecture: e.g. "amd64", "arm64".
        variant: e.g. "v8".
        created: an RFC 3339 time, or the label of a file holding one.
        **kwargs: common attributes (tags, visibility, testonly, ...).
    """
    common = common_attrs("oci_image", name, kwargs, _ADVICE)
    attrs = {}
    files = {}
    for field, value in zip(_LISTS + _DICTS, [entrypoint, cmd, exposed_ports, volumes, env, labels, annotations]):
        if value == None:
            continue
        if is_file_value(value):
            files[value] = field
        else:
            attrs[field] = value
    if user != None:
        attrs["user"] = user
    if workdir != None:
        attrs["working_dir"] = workdir
    platform = _platform(name, os, architecture, variant)
    image_manifest(
        name = name + ".manifest",
        base = base,
        layers = tars,
        platform = platform,
        platform_from_base = platform == None,
        created = created,
        config_files = files,
        **dict(attrs, **helper_attrs(common))
    )
    oci_layout_image(
        name = name,
        image = ":" + name + ".manifest",
        **common
    )
    native.filegroup(
        name = name + ".digest",
        srcs = [":" + name],
        output_group = "digest",
        **derived_attrs(common)
    )
