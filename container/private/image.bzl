"""container_image: rules_docker's container_image, as image_manifest and image_load."""

load("//img:image.bzl", "image_manifest")
load("//img:macros.bzl", "helper_attrs")
load(":common.bzl", "command", "loader_targets", "split_attrs", "stamp_value")
load(":layer.bzl", "layer_parts")

_ADVICE = {
    "debs": "extracting .deb files is not installing them; put the files in a layer with pkg_tar or image_layer, or start from a base that has the packages",
    "empty_files": "use rules_pkg's pkg_files or pkg_mkdirs with layer_from_pkg",
    "empty_dirs": "use rules_pkg's pkg_mkdirs with layer_from_pkg",
    "data_path": "give each file its image path in image_layer's srcs, or use pkg_tar's strip_prefix",
    "enable_mtime_preservation": "mtimes read from disk would make the image differ per machine; set mtime instead",
    "label_files": "give labels as a dict",
    "label_file_strings": "give labels as a dict",
    "launcher": "run the image with `docker run` after `bazel run :NAME` loads it",
    "launcher_args": "run the image with `docker run` after `bazel run :NAME` loads it",
    "docker_run_flags": "run the image with `docker run` after `bazel run :NAME` loads it",
    "compression_options": "use --@rules_img//img/settings:compression_level",
    "experimental_tarball_format": "NAME.tar keeps each layer's compression (Docker 20.10 and later read it)",
    "os_version": "not supported",
}

def _platform(name, architecture, operating_system, cpu_variant):
    if architecture == None:
        return None
    return "/".join([operating_system, architecture] + ([cpu_variant] if cpu_variant else []))

def container_image(
        name,
        base = None,
        files = [],
        directory = "/",
        mode = "0o555",
        symlinks = {},
        tars = [],
        layers = [],
        env = {},
        cmd = None,
        entrypoint = None,
        null_cmd = False,
        null_entrypoint = False,
        ports = [],
        volumes = [],
        labels = {},
        user = None,
        workdir = None,
        creation_time = None,
        stamp = None,
        architecture = None,
        operating_system = "linux",
        cpu_variant = None,
        mtime = -1,
        portable_mtime = False,
        compression = "gzip",
        legacy_run_behavior = False,
        **kwargs):
    """rules_docker's container_image.

    Builds, as rules_docker did: NAME (`bazel run` loads the image into the
    daemon as bazel/PACKAGE:NAME; containerd and Docker get only what they
    lack), NAME.tar (a docker-save tarball) and NAME.digest. NAME is also
    the image for container_push, another container_image's base, or any
    rules_img rule. The image's own files, symlinks and tars become layers
    on top of `layers`, which sit on the base.

    Args:
        name: the target.
        base: container_pull's @NAME//image, another container_image, or any rules_img image.
        files: files added under directory by their base names.
        directory: where files go (default /).
        mode: mode of the files (default 0o555).
        symlinks: image path -> link target.
        tars: tar files; each becomes a layer.
        layers: container_layer targets (or any rules_img layer).
        env: environment; $VAR expands to the base's value.
        cmd: a list (exec form) or a string (shell form); "" or [] clears the base's.
        entrypoint: as cmd.
        null_cmd: clear the base's cmd.
        null_entrypoint: clear the base's entrypoint.
        ports: exposed ports, e.g. ["8080"] or ["53/udp"].
        volumes: volume mount points.
        labels: config labels.
        user: user[:group].
        workdir: working directory.
        creation_time: an RFC 3339 time (default: the epoch).
        stamp: True, False or rules_docker's //stamp:always, :never, :use_stamp_flag.
        architecture: e.g. "amd64"; default: the base's, else the target platform's.
        operating_system: with architecture (default linux).
        cpu_variant: e.g. "v8".
        mtime: Unix seconds of the added files.
        portable_mtime: 2000-01-01 for the added files.
        compression: "gzip".
        legacy_run_behavior: False only: `bazel run` loads, it does not run the container.
        **kwargs: common attributes (tags, visibility, testonly, ...).
    """
    common = split_attrs("container_image", name, kwargs, _ADVICE)
    if legacy_run_behavior:
        fail("container_image %s: legacy_run_behavior = True (run the container after loading) is not supported: `bazel run :%s` loads it; then `docker run`" % (name, name))
    if creation_time and "{" in creation_time:
        fail("container_image %s: creation_time %r: stamp values in creation_time are not supported; write an RFC 3339 time, or use image_manifest's created with a stamped file" % (name, creation_time))
    if type(base) == "string" and base.endswith((".tar", ".tar.gz")):
        fail("container_image %s: base %r is a tarball; load it with container_load (or convert it with layout_from_tar) and use @NAME//image" % (name, base))
    helper = helper_attrs(common)
    own = layer_parts(name, files, directory, mode, symlinks, tars, mtime, portable_mtime, compression, helper)
    attrs = {}
    cmd = [] if null_cmd else command(cmd)
    entrypoint = [] if null_entrypoint else command(entrypoint)
    if cmd != None:
        attrs["cmd"] = cmd
    if entrypoint != None:
        attrs["entrypoint"] = entrypoint
    if user != None:
        attrs["user"] = user
    if workdir != None:
        attrs["working_dir"] = workdir
    platform = _platform(name, architecture, operating_system, cpu_variant)
    image_manifest(
        name = name + ".manifest",
        base = base,
        layers = list(layers) + own,
        env = env,
        labels = labels,
        exposed_ports = ports,
        volumes = volumes,
        created = creation_time,
        platform = platform,
        platform_from_base = platform == None,
        stamp = stamp_value("container_image", name, stamp),
        **dict(attrs, **helper)
    )

    # rules_docker loaded every image as bazel/PACKAGE:NAME.
    loader_targets(name, "bazel/" + native.package_name() if native.package_name() else "bazel", common)
