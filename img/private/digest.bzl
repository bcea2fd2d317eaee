"""The digest output group: a file holding an image's or index's sha256:... digest."""

load(":toolchain.bzl", "img_args", "img_tool")

def digest_file(ctx, descriptor):
    """Declares NAME.digest and the action that writes it from the descriptor.

    Built only when asked for (output group `digest`, rules_oci's NAME.digest).

    Args:
        ctx: the rule context (its rule uses the img toolchain).
        descriptor: the descriptor File of the manifest or index.

    Returns:
        The digest File.
    """
    out = ctx.actions.declare_file(ctx.label.name + ".digest")
    args = img_args(ctx)
    args.add("digest")
    args.add("--descriptor", descriptor)
    args.add("--out", out)
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = [descriptor],
        outputs = [out],
        mnemonic = "ImageDigest",
        progress_message = "Writing the digest of %{label}",
        toolchain = "//img:toolchain_type",
    )
    return out
