"""A binary that declares its runfiles groups, as rules built on
rules_runfiles_group do: it runs an sh_binary and names groups of its files."""

load("@rules_img//img:providers.bzl", "RUNFILES_GROUP_RANKS", "RunfilesGroupInfo")

def _grouped_binary_impl(ctx):
    binary = ctx.attr.binary[DefaultInfo]
    out = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.symlink(output = out, target_file = binary.files_to_run.executable, is_executable = True)
    entries = []
    for target, spec in ctx.attr.groups.items():
        name, rank = spec.split(":")
        entries.append(struct(
            name = name,
            content = target[DefaultInfo].files,
            kind = "data",
            rank = getattr(RUNFILES_GROUP_RANKS, rank),
        ))
    return [
        DefaultInfo(executable = out, runfiles = ctx.runfiles([out]).merge(binary.default_runfiles)),
        RunfilesGroupInfo(entries = entries, executable_group = ctx.attr.executable_group or None),
    ]

grouped_binary = rule(
    implementation = _grouped_binary_impl,
    attrs = {
        "binary": attr.label(executable = True, cfg = "target", mandatory = True),
        "executable_group": attr.string(),
        "groups": attr.label_keyed_string_dict(allow_files = True, doc = "target: NAME:RANK"),
    },
    executable = True,
)
