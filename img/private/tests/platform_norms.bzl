"""Writes what Starlark's platform normalisation makes of a list of platforms.

platform_test.go compares it with Go's oci.NormVariant, so the rules and the
img tool match base images to platforms the same way.
"""

load("//img/private:platforms/platform.bzl", "norm_variant", "parse_platform", "platform_name", "same_platform")

def _impl(ctx):
    rows = []
    for value in ctx.attr.platforms:
        p = parse_platform(value)
        rows.append({
            "platform": value,
            "name": platform_name(p),
            "norm_variant": norm_variant(p),
            "same_as": [other for other in ctx.attr.platforms if same_platform(p, parse_platform(other))],
        })
    out = ctx.actions.declare_file(ctx.label.name + ".json")
    ctx.actions.write(out, json.encode_indent(rows))
    return [DefaultInfo(files = depset([out]), runfiles = ctx.runfiles([out]))]

platform_norms = rule(
    implementation = _impl,
    attrs = {"platforms": attr.string_list(mandatory = True)},
)
