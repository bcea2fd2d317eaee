"""container_bundle: rules_docker's container_bundle, images loaded together and one tarball of them."""

load("//img:load.bzl", "image_load")
load("//img:macros.bzl", "derived_attrs", "helper_attrs")
load("//img:multi_deploy.bzl", "multi_deploy")
load("//img:tarball.bzl", "image_tarball")
load(":common.bzl", "split_attrs")

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
    image_tarball(
        name = name + ".tarball",
        images = images,
        out = name + ".tar",
        **helper
    )
    native.filegroup(name = name + ".tar", srcs = [":" + name + ".tarball"], **derived_attrs(common))
