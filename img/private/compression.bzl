"""Turns the compress attribute and the //img/settings flags into img flags."""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")

COMPRESS_VALUES = ["auto", "gzip", "zstd", "none"]

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

_BEST_LEVEL = {"gzip": "9", "zstd": "4"}

def _level(ctx, algorithm):
    level = ctx.attr._compression_level[BuildSettingInfo].value
    if level != "auto":
        if not level.lstrip("-").isdigit():
            fail("--@rules_img//img/settings:compression_level=%s: use auto or a number (gzip 0-9, zstd 1-4)" % level)
        return level
    mode = ctx.var.get("COMPILATION_MODE", "fastbuild")
    if mode == "opt":
        return _BEST_LEVEL.get(algorithm, "-1")
    if mode == "fastbuild":
        return "1"
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
