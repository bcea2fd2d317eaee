"""Compact layers (experimental): the layer action keeps a compact stream and
a directory of the file contents it references; the blob is rebuilt, byte for
byte, by an action that never runs remotely nor fills the remote cache, and
only when something reads the blob's bytes."""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load("//img/private:common/labels.bzl", "display_label")
load("//img/private:toolchain.bzl", "img_args", "img_tool")

def check_compact(ctx):
    """Fails, naming the target, where compact layers cannot work.

    Args:
        ctx: context of a layer rule with COMPRESSION_ATTRS.
    """
    function = ctx.attr._digest_function[BuildSettingInfo].value
    if function != "sha256":
        fail(("%s: --@rules_img//img/settings:experimental_compact_layers references file contents by sha256, " +
              "and --@rules_img//img/settings:digest_function is %s: use one of them") % (display_label(ctx.label), function))

def rebuild_layer(ctx, stream, cas, blob):
    """Declares the action that rebuilds a compact layer's blob.

    Args:
        ctx: the rule context (its rule uses the img toolchain).
        stream: File, the compact stream.
        cas: File (directory) of the referenced contents.
        blob: File to declare as the rebuilt blob.
    """
    args = img_args(ctx)
    args.add("rebuild-layer")
    args.add("--compact", stream)
    args.add("--compact-cas", cas.path)
    args.add("--blob", blob)
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = [stream, cas],
        outputs = [blob],
        mnemonic = "ImageLayerRebuild",
        progress_message = "Rebuilding compact layer %{label}",
        # Here, and only here: a remote cache would hold the blob after all.
        execution_requirements = {"no-remote": "1"},
        toolchain = "//img:toolchain_type",
    )
