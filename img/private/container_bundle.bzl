"""container_bundle: rules_docker's container_bundle, images loaded together and one tarball of them."""

load(":common/door_attrs.bzl", "derived_attrs", "helper_attrs")
load(":common/labels.bzl", "display_label")
load(":container_common.bzl", "split_attrs")
load(":deploy.bzl", "image_spec")
load(":image_load.bzl", "image_load")
load(":multi_deploy.bzl", "multi_deploy")
load(":providers/providers.bzl", "ImageIndexInfo", "ImageManifestInfo")
load(":toolchain.bzl", "img_args", "img_tool")

def _bundle_tar_impl(ctx):
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
    out = ctx.actions.declare_file(ctx.attr.out)
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

bundle_tar = rule(
    implementation = _bundle_tar_impl,
    doc = "One docker-save tarball of several images, each under its reference.",
    attrs = {
        "images": attr.string_keyed_label_dict(providers = [[ImageManifestInfo], [ImageIndexInfo]]),
        "out": attr.string(mandatory = True),
    },
    toolchains = ["//img:toolchain_type"],
)

def container_bundle(name, images, stamp = None, **kwargs):
    """rules_docker's container_bundle: `bazel run` loads every image; NAME.tar holds them all.

    Args:
        name: the target.
        images: reference ("registry/repo:tag") -> image target.
        stamp: accepted as container_image's; references with stamp variables are refused.
        **kwargs: common attributes.
    """
    common = split_attrs("container_bundle", name, kwargs, {
        "image_targets": "use images",
        "image_target_strings": "use images",
        "experimental_tarball_format": "NAME.tar keeps each layer's compression",
        "tar_output": "use NAME.tar",
    })
    if stamp not in (None, False, True) and not (type(stamp) == "string" and stamp.startswith("@")):
        fail("container_bundle %s: stamp = %r: use True or False" % (name, stamp))
    for ref in images:
        if "{" in ref:
            fail("container_bundle %s: %r: stamp variables in bundle references are not supported; write the reference out" % (name, ref))
    helper = helper_attrs(common)
    loads = []
    for i, (ref, image) in enumerate(images.items()):
        image_load(
            name = "%s.load_%d" % (name, i),
            image = image,
            tag = ref,
            **helper
        )
        loads.append(":%s.load_%d" % (name, i))
    multi_deploy(name = name, operations = loads, **common)
    bundle_tar(
        name = name + ".tarball",
        images = images,
        out = name + ".tar",
        **helper
    )
    native.filegroup(name = name + ".tar", srcs = [":" + name + ".tarball"], **derived_attrs(common))
