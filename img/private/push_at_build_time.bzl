"""Push at build time: validation actions that push an image's blobs (and,
in blobs_and_manifests mode, its manifests and tags) from where the build
runs, so with remote execution no layer byte passes through the machine
running Bazel. Each action runs `img deploy` on one blob, the code path of
`bazel run //app:push`."""

load(":deploy.bzl", "new_stager", "staged_image_spec")
load(":toolchain.bzl", "img_args", "img_tool")

# Fields of a `bazel run` spec that mean nothing in a build action, which
# may run on another machine: its blobs are inputs, and programs and caches
# named on this machine are not there.
_RUN_ONLY = ("forbid_layer_push", "mount_from", "credential_helper", "registry_credential_helper", "remote_cache", "remote_instance_name", "cas_digest_function")

def _run(ctx, name, spec_file, inputs, build_time, mnemonic_what, only = [], repository = ""):
    marker = ctx.actions.declare_file(name)
    args = img_args(ctx)
    args.add("deploy")
    args.add("--spec", spec_file)
    args.add_all(only, before_each = "--only")
    if repository:
        args.add("--repository", repository)
    if build_time["mode"] == "best_effort":
        args.add("--best-effort")
    args.add("--marker", marker)
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = inputs,
        outputs = [marker],
        mnemonic = "PushImage",
        progress_message = "Pushing %s of %%{label} at build time" % mnemonic_what,
        execution_requirements = build_time["exec_properties"],
        toolchain = "//img:toolchain_type",
    )
    return marker

def push_at_build_time(ctx, name, plan):
    """Declares the PushImage actions of a push plan that asks for them.

    Args:
        ctx: the rule context (it has the img toolchain).
        name: prefix of the declared files' names.
        plan: from deploy_plan.

    Returns:
        list of marker Files, for the _validation output group (empty when
        push at build time is off for the plan).
    """
    build_time = plan.get("build_time")
    if not build_time or plan["operation"] != "push":
        return []
    info = plan["image"]
    stage = new_stager(ctx, "", path = lambda f: f.path)
    image, _, access = staged_image_spec(stage, info, True)
    _, metadata_files, _ = staged_image_spec(stage, info, False)
    spec = {
        "operation": "push",
        "label": plan["label"],
        "repository": plan["repository"],
        "tags": plan["tags"],
        # Each action reads its own blob from its inputs.
        "strategy": "eager",
        "source_access": access,
        "image": image,
    }
    if plan["registry"]:
        spec["registry"] = plan["registry"]
    spec.update({k: v for k, v in plan["fields"].items() if k not in _RUN_ONLY})
    spec.update(build_time["gateways"])
    for field, f in plan["file_fields"].items():
        if field != "cross_mount_from":
            spec[field] = f.path
    inputs = metadata_files + [f for field, f in plan["file_fields"].items() if field != "cross_mount_from"]
    blob_spec = ctx.actions.declare_file(name + ".build_time_push.json")
    ctx.actions.write(blob_spec, json.encode_indent(spec))

    manifests = info.manifests if hasattr(info, "index") else [info]
    markers = []
    for i, m in enumerate(manifests):
        markers.append(_run(
            ctx,
            "%s.pushed/m%d.config" % (name, i),
            blob_spec,
            [blob_spec] + inputs,
            build_time,
            "a config",
            only = ["config:%d" % i],
            repository = build_time["blob_repository"],
        ))
        for j, layer in enumerate(m.layers):
            markers.append(_run(
                ctx,
                "%s.pushed/m%d.layer%d" % (name, i, j),
                blob_spec,
                [blob_spec] + inputs + ([layer.blob] if layer.blob else []),
                build_time,
                "a layer",
                only = ["layer:%d:%d" % (i, j)],
                repository = build_time["blob_repository"],
            ))
    if build_time["content"] != "blobs_and_manifests":
        return markers

    # After every blob (their markers are inputs): the manifests and tags,
    # mounting the blobs from the blob repository when they went there.
    manifest_spec = ctx.actions.declare_file(name + ".build_time_manifest_push.json")
    if build_time["blob_repository"]:
        spec = dict(spec, mount_from = [build_time["blob_repository"]])
    ctx.actions.write(manifest_spec, json.encode_indent(spec))
    markers.append(_run(
        ctx,
        "%s.pushed/manifests" % name,
        manifest_spec,
        [manifest_spec] + inputs + markers,
        build_time,
        "the manifests",
        repository = build_time["manifest_repository"],
    ))
    return markers

def build_time_validations(ctx, providers):
    """The push at build time markers of the DeployInfo among providers.

    Args:
        ctx: the rule context (it has the img toolchain).
        providers: a rule's providers, DeployInfo among them or not.

    Returns:
        list of marker Files.
    """
    markers = []
    for p in providers:
        for op in getattr(p, "operations", None) or []:
            markers += push_at_build_time(ctx, op.name, op.plan)
    return markers
