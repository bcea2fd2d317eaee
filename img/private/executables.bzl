"""Which files of a dependency graph are executables, decided in analysis.

A layer's file modes must not come from the file system: a remote executor
stages every input as executable, and a sandbox or checkout may do otherwise,
so a mode read from disk would make the digest depend on where the action ran.
Bazel knows which files are executables (FilesToRunProvider.executable); this
aspect collects them across the graph so that runfiles of a binary that carry
other binaries (a py_binary's data with a go_binary, say) keep them runnable.
"""

ExecutablesInfo = provider(
    doc = "Executables of a target and of everything it depends on.",
    fields = {
        "executable": "File or None: the target's own executable, when it is an executable rule.",
        "files": "depset of File: each the executable of some target in the graph.",
    },
)

def _deps(attr):
    """Returns the targets an attribute value holds (label, list or dict)."""
    if type(attr) == "Target":
        return [attr]
    if type(attr) == "list":
        return [v for v in attr if type(v) == "Target"]
    if type(attr) == "dict":
        return [v for v in attr.values() if type(v) == "Target"] + [k for k in attr.keys() if type(k) == "Target"]
    return []

def _executables_aspect_impl(target, ctx):
    # Aspects run on rules only. That matters: a plain file target also has a
    # FilesToRunProvider whose executable is the file itself, so a data file
    # would pass for a binary if its provider were asked directly.
    direct = []
    info = target[DefaultInfo]
    executable = info.files_to_run.executable if info.files_to_run else None
    if executable:
        direct.append(executable)
    transitive = []

    # Private attributes too: a runtime dependency may hide there. An
    # execution-platform tool found this way is harmless, since only files
    # that are in the layer are looked up.
    for name in dir(ctx.rule.attr):
        for dep in _deps(getattr(ctx.rule.attr, name)):
            if ExecutablesInfo in dep:
                transitive.append(dep[ExecutablesInfo].files)
    return [ExecutablesInfo(executable = executable, files = depset(direct, transitive = transitive))]

executables_aspect = aspect(
    implementation = _executables_aspect_impl,
    attr_aspects = ["*"],
    doc = "Collects the executables of a target's dependency graph into ExecutablesInfo.",
)
