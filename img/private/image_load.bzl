"""image_load: `bazel run` loads an image into a container daemon."""

load(":common/gateway.bzl", "GATEWAY_ATTRS", "gateway_fields")
load(":common/labels.bzl", "display_label")
load(":deploy.bzl", "LAUNCHER_EXEC_GROUPS", "deploy_operation", "image_attr", "image_info", "image_spec")
load(":load_common.bzl", "LOAD_ATTRS", "load_names", "load_settings")
load(":platforms/platform.bzl", "PLATFORM_ATTRS", "known_target_platform")
load(":toolchain.bzl", "img_args", "img_tool")

def _tarball(ctx, repository, tags, access):
    # Built only when the output group is asked for: it needs every blob.
    image, files, _ = image_spec(ctx, ctx.attr.image, with_blobs = True, path = lambda f: f.path)
    spec = ctx.actions.declare_file(ctx.label.name + ".tarball.json")
    fields = {k: v for k, v in gateway_fields(ctx, display_label(ctx.label)).items() if k == "registry_pull_gateway"}
    ctx.actions.write(spec, json.encode(dict({
        "operation": "tarball",
        "label": display_label(ctx.label),
        "image": image,
        "repository": repository,
        "tags": [t for t in tags if "{{" not in t],
        "source_access": access,
    }, **fields)))
    out = ctx.actions.declare_file(ctx.label.name + ".tar")
    args = img_args(ctx)
    args.add("tarball")
    args.add("--spec", spec)
    args.add("--out", out)
    platform = known_target_platform(ctx)
    if platform and hasattr(image_info(ctx.attr.image), "index"):
        # The configuration's platform, never the machine the action runs on.
        args.add("--platform", platform)
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = [spec] + files,
        outputs = [out],
        mnemonic = "ImageTarball",
        progress_message = "Writing docker-save tarball of %{label}",
        # Shallow base layers come from their registry.
        execution_requirements = {"requires-network": "1"},
        toolchain = "//img:toolchain_type",
    )
    return out

def _image_load_impl(ctx):
    repository, tags = load_names(ctx, ctx.label.package or ctx.label.name)
    op = deploy_operation(ctx, load_settings(ctx, repository, tags))

    # The image's own provider too, so a loader can stand for its image (as
    # rules_docker's container_image target is both): push it, build on it.
    return op.providers + [image_info(ctx.attr.image)] + [OutputGroupInfo(tarball = depset([_tarball(ctx, repository, tags, op.access)]))]

image_load = rule(
    implementation = _image_load_impl,
    doc = """Loads an image_manifest or image_index into a daemon with `bazel run`.

containerd (and Docker on containerd's image store) get only the blobs they
lack, through containerd's content API; Docker's classic store gets a
docker-save stream on `docker load`; podman gets `podman load`. For an index,
`bazel run //app:load -- --platform linux/arm64` picks the platform (default:
the host's). Output group `tarball` is a docker-save tarball of the image
(for an index, of the target platform's manifest).""",
    attrs = PLATFORM_ATTRS | GATEWAY_ATTRS | dict(LOAD_ATTRS, image = image_attr("load")),
    executable = True,
    exec_groups = LAUNCHER_EXEC_GROUPS,
    toolchains = ["//img:toolchain_type"],
)
