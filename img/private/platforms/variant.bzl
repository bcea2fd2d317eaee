"""The target platform's OCI variant, from @rules_img//img/constraints/ARCH:VARIANT."""

VariantInfo = provider(
    doc = "The variant a platform's @rules_img//img/constraints value names.",
    fields = {
        "variant": "string: the OCI variant, \"\" when the platform has none.",
        "architecture": "string: the OCI architecture the variant belongs to, \"\" with no variant.",
    },
)

def _target_variant_impl(ctx):
    arch, _, variant = ctx.attr.value.partition("/")
    return [VariantInfo(variant = variant, architecture = arch)]

target_variant = rule(
    implementation = _target_variant_impl,
    doc = "ARCH/VARIANT of the target platform's variant constraint, through a select() on them.",
    attrs = {"value": attr.string(doc = "ARCH/VARIANT, or \"\".")},
)

# The variants of each OCI architecture, as upstream rules_img names them.
VARIANTS = {
    "amd64": ["v1", "v2", "v3", "v4"],
    "arm64": ["v8"] + ["v8.%d" % i for i in range(1, 10)] + ["v9"] + ["v9.%d" % i for i in range(1, 8)],
    "arm": ["v5", "v6", "v7", "v8"],
    "ppc64le": ["power8", "power9", "power10"],
    "riscv64": ["rva20u64", "rva22u64", "rva23u64"],
}

# select() keys for //img/constraints:target_variant: each variant's
# constraint value -> ARCH/VARIANT.
VARIANT_SELECT = dict(
    [("//img/constraints/%s:%s" % (arch, v), "%s/%s" % (arch, v)) for arch, vs in VARIANTS.items() for v in vs] +
    [("//conditions:default", "")],
)

# Names that mean the same as another: arm64's v8.0 is v8, v9.0 is v9.
ALIASES = {"arm64": {"v8.0": "v8", "v9.0": "v9"}}

def variant_constraints(name):
    """Declares the variant constraint values (and aliases) of one architecture.

    Args:
        name: an OCI architecture, a key of VARIANTS; the values are named
            after its variants.
    """
    arch = name
    for v in VARIANTS[arch]:
        native.constraint_value(
            name = v,
            constraint_setting = "//img/constraints:variant",
            visibility = ["//visibility:public"],
        )
    for alias, actual in ALIASES.get(arch, {}).items():
        native.alias(
            name = alias,
            actual = ":" + actual,
            visibility = ["//visibility:public"],
        )
