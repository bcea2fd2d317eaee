"""An action that writes an OCI image layout directory."""

load(":toolchain.bzl", "img_tool")

def oci_layout(ctx, descriptor, blobs):
    """Declares NAME_oci_layout and the action that fills it.

    Args:
        ctx: the rule context (its rule uses the img toolchain).
        descriptor: File, the descriptor of the manifest or index at the root.
        blobs: depset of every File the image consists of.

    Returns:
        The layout directory (a tree artifact).
    """
    out = ctx.actions.declare_directory(ctx.label.name + "_oci_layout")
    args = ctx.actions.args()
    args.add("layout")
    args.add("--root", descriptor)
    args.add("--out", out.path)
    args.add_all(blobs, before_each = "--blob")
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = depset([descriptor], transitive = [blobs]),
        outputs = [out],
        mnemonic = "ImageLayout",
        progress_message = "Writing OCI layout of %{label}",
        toolchain = "//img:toolchain_type",
    )
    return out
