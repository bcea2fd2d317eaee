"""The OCI platform (os, architecture, variant) of the target platform."""

load(":common/labels.bzl", "display_label")
load(":platforms/variant.bzl", "VariantInfo")

# OCI names for @platforms constraint values. Order matters only for errors.
_OS = {
    "linux": "@platforms//os:linux",
    "windows": "@platforms//os:windows",
    "freebsd": "@platforms//os:freebsd",
}

_CPU = {
    "amd64": ("@platforms//cpu:x86_64", None),
    "arm64": ("@platforms//cpu:aarch64", "v8"),
    "arm/v7": ("@platforms//cpu:armv7", None),
    "386": ("@platforms//cpu:x86_32", None),
    "ppc64le": ("@platforms//cpu:ppc64le", None),
    "s390x": ("@platforms//cpu:s390x", None),
    "riscv64": ("@platforms//cpu:riscv64", None),
}

PLATFORM_ATTRS = dict(
    [("_os_" + name, attr.label(default = label)) for name, label in _OS.items()] +
    [("_cpu_" + name.replace("/", "_"), attr.label(default = cpu[0])) for name, cpu in _CPU.items()] +
    [("_target_variant", attr.label(default = "//img/constraints:target_variant", providers = [VariantInfo]))],
)

def _has(ctx, attr_name):
    return ctx.target_platform_has_constraint(getattr(ctx.attr, attr_name)[platform_common.ConstraintValueInfo])

def parse_platform(value):
    """Turns "os/arch[/variant]" into the platform dict providers use.

    Args:
        value: the platform string.

    Returns:
        A dict with os, architecture and optionally variant.
    """
    parts = value.split("/")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        fail("platform: %r is not os/architecture[/variant], e.g. linux/arm64" % value)
    result = {"os": parts[0], "architecture": parts[1]}
    if len(parts) == 3 and parts[2]:
        result["variant"] = parts[2]
    return result

def norm_variant(platform):
    """The variant with the architecture's baseline spelled as runtimes match it.

    Agrees with Go's oci.NormVariant (img/private/tests checks the two):
    "" for arm64/v8 and amd64/v1, "v7" for arm without a variant.

    Args:
        platform: a platform dict.

    Returns:
        The variant string, "" for none.
    """
    arch = platform["architecture"]
    variant = platform.get("variant", "")
    if (arch == "arm64" and variant == "v8") or (arch == "amd64" and variant == "v1"):
        return ""
    if arch == "arm" and variant == "":
        return "v7"
    return variant

def same_platform(a, b):
    """Whether a runtime takes the platform dicts a and b for the same platform.

    Args:
        a: a platform dict.
        b: a platform dict.

    Returns:
        bool.
    """
    return a["os"] == b["os"] and a["architecture"] == b["architecture"] and norm_variant(a) == norm_variant(b)

def platform_name(platform):
    """ "os/arch[/variant]" of a platform dict, for messages and target names.

    Args:
        platform: a platform dict.

    Returns:
        string.
    """
    return "/".join([platform["os"], platform["architecture"]] + ([platform["variant"]] if platform.get("variant") else []))

def _detected(ctx):
    # The target platform's {os, architecture[, variant]}, or None when its
    # constraints name no os or cpu we know.
    os = [name for name in _OS if _has(ctx, "_os_" + name)]
    cpu = [name for name in _CPU if _has(ctx, "_cpu_" + name.replace("/", "_"))]
    if not os or not cpu:
        return None
    result = parse_platform(os[0] + "/" + cpu[0])
    variant = _CPU[cpu[0]][1]
    if variant and "variant" not in result:
        result["variant"] = variant

    # A //img/constraints/ARCH:VARIANT value names the variant outright.
    named = ctx.attr._target_variant[VariantInfo]
    if named.variant:
        if named.architecture != result["architecture"]:
            fail("%s: the target platform's @rules_img//img/constraints/%s:%s is for %s, but its cpu makes the image %s; use a variant of //img/constraints/%s" % (
                display_label(ctx.label),
                named.architecture,
                named.variant,
                named.architecture,
                result["architecture"],
                result["architecture"],
            ))
        result["variant"] = named.variant
    return result

def known_target_platform(ctx):
    """The target platform as "os/arch[/variant]", or "" when its constraints name none we know.

    Args:
        ctx: a rule context whose rule has PLATFORM_ATTRS.

    Returns:
        string.
    """
    p = _detected(ctx)
    return platform_name(p) if p else ""

def target_image_platform(ctx, override = ""):
    """Returns {os, architecture[, variant]} for the image being built.

    Args:
        ctx: a rule context whose rule has PLATFORM_ATTRS.
        override: an explicit "os/arch[/variant]" string, or "" to detect it.

    Returns:
        A dict with os, architecture and, for some CPUs, variant.
    """
    if override:
        return parse_platform(override)
    p = _detected(ctx)
    if not p:
        fail(("%s: cannot tell the image platform from the target platform: it needs an os constraint " +
              "(%s) and a cpu constraint (%s) from @platforms, or set platform = \"linux/amd64\"") % (
            display_label(ctx.label),
            ", ".join(_OS.values()),
            ", ".join([c[0] for c in _CPU.values()]),
        ))
    return p
