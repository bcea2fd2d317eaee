"""A rule that outputs a directory (tree artifact), as code generators do."""

def _tree_impl(ctx):
    out = ctx.actions.declare_directory(ctx.label.name)
    ctx.actions.run_shell(
        outputs = [out],
        command = """
mkdir -p {d}/bin {d}/share/doc
printf '#!/bin/sh\\necho tree\\n' > {d}/bin/run.sh && chmod 0755 {d}/bin/run.sh
echo docs > {d}/share/doc/README
echo docs > {d}/share/doc/README.copy && chmod 0755 {d}/share/doc/README.copy
ln -s ../share/doc/README {d}/bin/readme-link
""".format(d = out.path),
    )
    return [DefaultInfo(files = depset([out]))]

tree = rule(implementation = _tree_impl)
