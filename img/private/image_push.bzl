"""image_push: `bazel run` pushes an image or index to a registry."""

load(":deploy.bzl", "LAUNCHER_EXEC_GROUPS", "deploy_operation", "image_attr")
load(":push_at_build_time.bzl", "build_time_validations")
load(":push_common.bzl", "PUSH_ATTRS", "push_settings")

def _image_push_impl(ctx):
    providers = deploy_operation(ctx, push_settings(ctx)).providers
    markers = build_time_validations(ctx, providers)
    return providers + ([OutputGroupInfo(_validation = depset(markers))] if markers else [])

image_push = rule(
    implementation = _image_push_impl,
    doc = """Pushes an image_manifest or image_index with `bazel run`.

Only blobs the registry lacks are uploaded; base layers already in the same
registry are mounted; manifests go last and tags after them, so a tag never
points at an incomplete image. `bazel run //app:push -- --tag X --registry Y
--repository Z` overrides the attributes for one run.""",
    attrs = dict(PUSH_ATTRS, image = image_attr("push")),
    executable = True,
    exec_groups = LAUNCHER_EXEC_GROUPS,
    toolchains = ["//img:toolchain_type"],
)
