"""image_tarball: a docker-save tarball of images, written by a build action."""

load(":common/labels.bzl", "display_label")
load(":deploy.bzl", "image_spec")
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
the build machine's platform goes in. gzip and uncompressed layers keep their bytes;
zstd layers are stored decompressed, which Docker before 23 needs. rules_docker's
container_bundle writes its NAME.tar with this rule.""",
    attrs = {
        "images": attr.string_keyed_label_dict(
            doc = "Reference (registry/repository:tag) -> image.",
            providers = [[ImageManifestInfo], [ImageIndexInfo]],
            mandatory = True,
        ),
        "out": attr.string(doc = "Name of the tarball; default NAME.tar."),
    },
    toolchains = ["//img:toolchain_type"],
)
