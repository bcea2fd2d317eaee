"""The layer compressions, and how the compress attribute and the //img/settings flags become img flags.

COMPRESSIONS is the one table of them on the Starlark side (pkg/compress holds
Go's): the values of the compress attributes and of the compress setting, file
extensions, media types and level ranges all derive from it.
"""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load(
    ":common/media_types.bzl",
    "DOCKER_GZIP_LAYER",
    "DOCKER_UNCOMPRESSED_LAYER",
    "DOCKER_ZSTD_LAYER",
    "GZIP_LAYER",
    "UNCOMPRESSED_LAYER",
    "ZSTD_LAYER",
)

# name -> struct(
#   ext: the blob's file extension; more_exts: other endings of such tars,
#   media_type and docker_media_type: OCI's and Docker's layer types,
#   levels: the --level range for messages, or None;
#   fast and best: the levels of fastbuild and -c opt).
def _zstd(levels, fast, more_exts = []):
    # Every zstd variant writes the same kind of blob; only its levels differ.
    return struct(ext = ".tar.zst", more_exts = more_exts, media_type = ZSTD_LAYER, docker_media_type = DOCKER_ZSTD_LAYER, levels = levels, fast = fast, best = "4")

COMPRESSIONS = {
    "gzip": struct(ext = ".tar.gz", more_exts = [".tgz"], media_type = GZIP_LAYER, docker_media_type = DOCKER_GZIP_LAYER, levels = "0-9", fast = "1", best = "9"),
    "zstd": _zstd("1-4", "1", more_exts = [".tar.zstd", ".tzst"]),
    # zstd with a 128 MiB window in one frame (pkg/compress): repeats further apart than zstd's 8 MiB.
    # Only its two strongest levels search that far (pkg/compress).
    "zstd-long": _zstd("3-4", "3"),
    "none": struct(ext = ".tar", more_exts = [], media_type = UNCOMPRESSED_LAYER, docker_media_type = DOCKER_UNCOMPRESSED_LAYER, levels = None, fast = None, best = None),
}

# The compress setting's values; the attributes add "auto".
COMPRESS_SETTING_VALUES = list(COMPRESSIONS.keys())
COMPRESS_VALUES = ["auto"] + COMPRESS_SETTING_VALUES

def _tar_extensions():
    out = [COMPRESSIONS["none"].ext]  # the plain tar first, in messages
    for c in COMPRESSIONS.values():
        for ext in [c.ext] + c.more_exts:
            if ext not in out:
                out.append(ext)
    return out

# Endings of the tar files image_manifest takes as layers.
TAR_EXTENSIONS = _tar_extensions()

def _algorithm_of_media_type():
    out = {}
    for name, c in COMPRESSIONS.items():
        for media_type in (c.media_type, c.docker_media_type):
            # Where two share a media type, a blob of it is read as the first.
            if media_type and media_type not in out:
                out[media_type] = name
    return out

# Layer media type (OCI's or Docker's) -> compression name.
ALGORITHM_OF_MEDIA_TYPE = _algorithm_of_media_type()

def blob_extension(algorithm):
    """The file extension of a layer blob compressed with algorithm."""
    return COMPRESSIONS[algorithm].ext

def layer_media_type(algorithm):
    """The OCI media type of a layer compressed with algorithm."""
    return COMPRESSIONS[algorithm].media_type

def _level_ranges():
    return ", ".join(["%s %s" % (name, c.levels) for name, c in COMPRESSIONS.items() if c.levels])

ESTARGZ_VALUES = ["auto", "enabled", "disabled"]

ESTARGZ_DOC = ("enabled writes the layer as eStargz (gzip with a table of contents, for lazy pulling " +
               "by the stargz snapshotter; plain runtimes read it as gzip); auto follows " +
               "--@rules_img//img/settings:estargz (default disabled). Needs gzip compression.")

# The flags every layer rule reads; add to the rule's attrs.
COMPRESSION_ATTRS = {
    "_compress": attr.label(default = "//img/settings:compress"),
    "_compression_level": attr.label(default = "//img/settings:compression_level"),
    "_compression_jobs": attr.label(default = "//img/settings:compression_jobs"),
    "_digest_function": attr.label(default = "//img/settings:digest_function"),
    "_estargz": attr.label(default = "//img/settings:estargz"),
    "_compact_layers": attr.label(default = "//img/settings:experimental_compact_layers"),
    "_soci": attr.label(default = "//img/settings:soci"),
    "_soci_span_size": attr.label(default = "//img/settings:soci_span_size"),
    "_soci_min_layer_size": attr.label(default = "//img/settings:soci_min_layer_size"),
}

def cas_digest_args(ctx):
    """Returns img's --cas-digest-function flag for an action that writes layer metadata.

    Args:
        ctx: the rule context; its rule has COMPRESSION_ATTRS.

    Returns:
        A list of arguments, empty for Bazel's default sha256 (so those
        actions' command lines, and cache keys, stay as they were).
    """
    function = ctx.attr._digest_function[BuildSettingInfo].value
    if function == "sha256":
        return []
    return ["--cas-digest-function", function]

def _level(ctx, algorithm):
    level = ctx.attr._compression_level[BuildSettingInfo].value
    if level != "auto":
        if not level.lstrip("-").isdigit():
            fail("--@rules_img//img/settings:compression_level=%s: use auto or a number (%s)" % (level, _level_ranges()))
        return level
    mode = ctx.var.get("COMPILATION_MODE", "fastbuild")
    if mode == "opt":
        return COMPRESSIONS[algorithm].best or "-1"
    if mode == "fastbuild":
        return COMPRESSIONS[algorithm].fast or "-1"
    return "-1"

def compression_jobs(ctx):
    """Returns img's --jobs value from the compression_jobs setting.

    Args:
        ctx: the rule context; its rule has COMPRESSION_ATTRS.

    Returns:
        A string for --jobs.
    """
    jobs = ctx.attr._compression_jobs[BuildSettingInfo].value
    if jobs == "auto":
        jobs = "1" if ctx.var.get("COMPILATION_MODE") == "opt" else "nproc"
    if jobs == "nproc":
        return "0"  # img: 0 means parallel with one worker per CPU
    if not jobs.isdigit() or jobs == "0":
        fail("--@rules_img//img/settings:compression_jobs=%s: use auto, nproc or a positive number" % jobs)
    return jobs

def compression_args(ctx, compress):
    """Returns img's compression flags for a layer.

    Args:
        ctx: the rule context; its rule has COMPRESSION_ATTRS.
        compress: the rule's compress attribute ("auto" defers to the flag).

    Returns:
        (algorithm, list of command-line arguments).
    """
    algorithm = compress
    if algorithm == "auto":
        algorithm = ctx.attr._compress[BuildSettingInfo].value
    if algorithm == "none":
        return algorithm, ["--compress", "none"]
    return algorithm, [
        "--compress",
        algorithm,
        "--level",
        _level(ctx, algorithm),
        "--jobs",
        compression_jobs(ctx),
    ]

def estargz_enabled(ctx, estargz):
    """Whether a layer is eStargz.

    Args:
        ctx: the rule context; its rule has COMPRESSION_ATTRS.
        estargz: the rule's estargz attribute ("auto" defers to the flag).

    Returns:
        bool.
    """
    if estargz == "auto":
        estargz = ctx.attr._estargz[BuildSettingInfo].value
    return estargz == "enabled"

def check_estargz(label, algorithm):
    """Fails, naming the target, when eStargz meets a compression other than gzip.

    Args:
        label: the target, as users write it.
        algorithm: the layer's resolved compression.
    """
    if algorithm != "gzip":
        fail(("%s: eStargz is enabled (its estargz attribute or --@rules_img//img/settings:estargz) but the " +
              "layer's compression is %s; eStargz is gzip with a table of contents: set compress = \"gzip\" " +
              "(or --@rules_img//img/settings:compress=gzip), or estargz = \"disabled\"") % (label, algorithm))
