"""An action that writes an OCI image layout directory."""

load(":registry_access.bzl", "access_flags")
load(":toolchain.bzl", "img_args", "img_tool")

def split_layers(layers):
    """Splits layers into local blobs and metadata of layers only a registry has.

    Args:
        layers: list of LayerInfo.

    Returns:
        (list of blob Files, list of metadata Files of shallow base layers).
    """
    return [layer.blob for layer in layers if layer.blob], [layer.metadata for layer in layers if not layer.blob]

def oci_layout(ctx, descriptor, blobs, remote_layers = [], access = None):
    """Declares NAME_oci_layout and the action that fills it.

    Args:
        ctx: the rule context (its rule uses the img toolchain).
        descriptor: File, the descriptor of the manifest or index at the root.
        blobs: depset of every local File the image consists of.
        remote_layers: metadata Files of base layers pulled shallowly: the
            action fetches them from their source registry.
        access: how to reach that registry (BaseImageInfo.access), or None.

    Returns:
        The layout directory (a tree artifact).
    """
    out = ctx.actions.declare_directory(ctx.label.name + "_oci_layout")
    args = img_args(ctx)
    args.add("layout")
    args.add("--root", descriptor)
    args.add("--out", out.path)
    args.add_all(blobs, before_each = "--blob")
    args.add_all(remote_layers, before_each = "--remote-layer")
    if remote_layers:
        args.add_all(access_flags(access))
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = depset([descriptor] + remote_layers, transitive = [blobs]),
        outputs = [out],
        mnemonic = "ImageLayout",
        progress_message = "Writing OCI layout of %{label}",
        # Shallow base layers come from their registry while the action runs.
        execution_requirements = {"requires-network": "1"} if remote_layers else {},
        toolchain = "//img:toolchain_type",
    )
    return out
