"""image_tarball: a docker-save tarball of images, written by a build action."""

load(":common/labels.bzl", "display_label")
load(":deploy.bzl", "image_spec")
load(":platforms/platform.bzl", "PLATFORM_ATTRS", "known_target_platform")
load(":providers/providers.bzl", "ImageIndexInfo", "ImageManifestInfo")
load(":toolchain.bzl", "img_args", "img_tool")

def _impl(ctx):
    specs, inputs = [], []
    needs_network = False
    for i, (ref, target) in enumerate(ctx.attr.images.items()):
        image, files, access = image_spec(ctx, target, with_blobs = True, path = lambda f: f.path)
        spec = ctx.actions.declare_file("%s.specs/%d.json" % (ctx.label.name, i))
        ctx.actions.write(spec, json.encode({
            "operation": "tarball",
            "label": display_label(ctx.label),
            "image": image,
            "tags": [ref],
            "source_access": access,
        }))
        specs.append(spec)
        inputs += [spec] + files
        needs_network = needs_network or access != None
    out = ctx.actions.declare_file(ctx.attr.out or ctx.label.name + ".tar")
    args = img_args(ctx)
    args.add("tarball")
    args.add_all(specs, before_each = "--spec")
    args.add("--out", out)
    platform = ctx.attr.platform or known_target_platform(ctx)
    if platform and [t for t in ctx.attr.images.values() if ImageIndexInfo in t]:
        # The configuration's platform, never the machine the action runs on.
        args.add("--platform", platform)
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = inputs,
        outputs = [out],
        mnemonic = "ImageTarball",
        progress_message = "Writing docker-save tarball of %{label}",
        # Shallow base layers come from their registry.
        execution_requirements = {"requires-network": "1"} if needs_network else {},
        toolchain = "//img:toolchain_type",
    )
    return [DefaultInfo(files = depset([out]))]

image_tarball = rule(
    implementation = _impl,
    doc = """One docker-save tarball of one or more images, each under its reference, written by
`bazel build`: what `docker load` and `podman load` read. Of an index, the manifest of
`platform` goes in (default: the target platform). gzip and uncompressed layers keep their bytes;
zstd layers are stored decompressed, which Docker before 23 needs. rules_docker's
container_bundle writes its NAME.tar with this rule.""",
    attrs = PLATFORM_ATTRS | {
        "platform": attr.string(doc = "os/arch[/variant] whose manifest an index contributes; default: the target platform's."),
        "images": attr.string_keyed_label_dict(
            doc = "Reference (registry/repository:tag) -> image.",
            providers = [[ImageManifestInfo], [ImageIndexInfo]],
            mandatory = True,
        ),
        "out": attr.string(doc = "Name of the tarball; default NAME.tar."),
    },
    toolchains = ["//img:toolchain_type"],
)
