"""What image_push, image_load and multi_deploy share: the deploy spec of an
image, and the launcher `bazel run` executes."""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load("@platforms//host:constraints.bzl", "HOST_CONSTRAINTS")
load(":common/labels.bzl", "display_label")
load(":common/strategies.bzl", "STRATEGIES")
load(":image_forward.bzl", "forwarded_image_aspect", "image_of")
load(":providers/providers.bzl", "DeployInfo", "DeploySpecInfo")
load(":push_request.bzl", "push_request")
load(":stamp.bzl", "STAMP_ATTRS", "stamped", "stamping", "template_vars")

# `bazel run` starts a launcher on the machine Bazel runs on, not on an
# executor, so the img it runs is resolved for an execution platform with the
# host's OS and CPU. Locally that is the platform actions use too, so one img
# serves both; with a Linux remote executor and a macOS host, the launcher gets
# a macOS img while actions get a Linux one.
LAUNCHER_EXEC_GROUPS = {
    "launcher": exec_group(
        exec_compatible_with = HOST_CONSTRAINTS,
        toolchains = ["//img:toolchain_type"],
    ),
}

def launcher_img(ctx):
    """Returns the img File a launcher runs (a rule with LAUNCHER_EXEC_GROUPS)."""
    return ctx.exec_groups["launcher"].toolchains["//img:toolchain_type"].img.executable

def new_stager(ctx, directory, path = None):
    """Returns (File, name) -> (string, File): how a spec names a file.

    Without path, files are staged as symlinks under DIRECTORY/: an index's
    per-platform files share short paths (they differ only by configuration),
    and runfiles keyed by short path would silently keep just one of them. A
    name is staged once, however many specs of the rule ask for it.

    Args:
        ctx: the rule context.
        directory: the staging directory's name, next to the rule's outputs.
        path: File -> string for specs read by build actions (File.path).

    Returns:
        The staging function.
    """
    if path:
        return lambda f, _name: (path(f), f)
    staged = {}

    def stage(f, name):
        if name not in staged:
            declare = ctx.actions.declare_directory if f.is_directory else ctx.actions.declare_file
            link = declare("%s/%s" % (directory, name))
            ctx.actions.symlink(output = link, target_file = f)
            staged[name] = link
        return staged[name].short_path, staged[name]

    return stage

def _manifest_spec(m, i, with_blobs, stage):
    files = []

    def add(f, name):
        p, staged = stage(f, "m%d/%s" % (i, name))
        files.append(staged)
        return p

    spec = {
        "manifest": add(m.manifest, "manifest.json"),
        "config": add(m.config, "config.json"),
        "descriptor": add(m.descriptor, "descriptor.json"),
        "layers": [],
    }
    for j, layer in enumerate(m.layers):
        entry = {"metadata": add(layer.metadata, "layer%d.json" % j)}
        compact = getattr(layer, "compact", None)
        if compact:
            # The blob is streamed from these, never built for the deploy;
            # without the contents (lazy), they come from the remote cache.
            entry["compact"] = {"stream": add(compact.stream, "layer%d.cstream" % j)}
            if with_blobs:
                entry["compact"]["cas"] = add(compact.cas, "layer%d.cas" % j)
        elif with_blobs and layer.blob:
            entry["blob"] = add(layer.blob, "layer%d.blob" % j)
        spec["layers"].append(entry)
    soci = getattr(m, "soci", None)
    if soci:
        # Small, and built here whatever the strategy: always in the runfiles.
        spec["soci"] = {
            "manifest": add(soci.manifest, "soci_index.json"),
            "config": add(soci.config, "soci_config.json"),
            "ztocs": [add(z, "ztoc%d" % k) for k, z in enumerate(soci.ztocs)],
        }
    return spec, files

def image_info(target):
    """The ImageManifestInfo or ImageIndexInfo of an image target (image_attr's).

    Args:
        target: an image, or a filegroup or transition of one image.

    Returns:
        ImageManifestInfo or ImageIndexInfo.
    """
    info = image_of(target)
    if info == None:
        fail(("%s is not an image: give an image_manifest, image_index (or a rules_oci or rules_docker image), " +
              "or a filegroup or platform_transition_filegroup of exactly one") % display_label(target.label))
    return info

def _is_index(info):
    return hasattr(info, "index")

def staged_image_spec(stage, info, with_blobs):
    """The "image" part of a deploy spec, from an image's provider.

    Args:
        stage: from new_stager.
        info: ImageManifestInfo or ImageIndexInfo.
        with_blobs: whether layer blobs built here are part of it (eager).

    Returns:
        (dict, list of Files the spec refers to, the base image's access dict or None).
    """
    if _is_index(info):
        manifests = info.manifests
        index_path, index_file = stage(info.index, "index.json")
        spec = {"index": index_path, "manifests": []}
        files = [index_file]
    else:
        manifests = [info]
        spec = {"manifests": []}
        files = []
    for i, m in enumerate(manifests):
        s, f = _manifest_spec(m, i, with_blobs, stage)
        spec["manifests"].append(s)
        files += f
    return spec, files, image_access(info)

def image_spec(ctx, image, with_blobs, path = None):
    """The "image" part of a deploy spec.

    Args:
        ctx: the rule context (staged files are declared under its name).
        image: a target providing ImageManifestInfo or ImageIndexInfo.
        with_blobs: whether layer blobs built here are part of it (eager).
        path: File -> string for specs read by build actions (File.path);
            default: runfiles-relative paths of staged copies.

    Returns:
        (dict, list of Files the spec refers to, the base image's access dict or None).
    """
    return staged_image_spec(new_stager(ctx, ctx.label.name + ".image", path), image_info(image), with_blobs)

def write_img_script(ctx, img, arguments):
    """Writes NAME.sh: it finds its runfiles and runs img with the arguments.

    Args:
        ctx: the rule context.
        img: File, the img tool (in the runfiles).
        arguments: shell words after `img`; "$root" is the main repository's
            runfiles directory, and the script's own arguments follow.

    Returns:
        The script File.
    """
    script = ctx.actions.declare_file(ctx.label.name + ".sh")
    ctx.actions.write(
        script,
        is_executable = True,
        content = """#!/usr/bin/env bash
# Generated by rules_img for {label}.
set -euo pipefail
if [[ -z "${{RUNFILES_DIR:-}}" ]]; then
  if [[ -d "$0.runfiles" ]]; then
    RUNFILES_DIR="$0.runfiles"
  else
    RUNFILES_DIR="${{PWD%/{workspace}}}"
  fi
fi
root="$RUNFILES_DIR/{workspace}"
exec "$root/{img}" {arguments} "$@"
""".format(
            label = display_label(ctx.label),
            workspace = ctx.workspace_name,
            img = img.short_path,
            arguments = arguments,
        ),
    )
    return script

def write_launcher(ctx, spec, img):
    """Writes the executable `bazel run` starts: img deploy on the spec.

    Args:
        ctx: the rule context.
        spec: File, the deploy spec (or a list of them, for multi_deploy).
        img: File, the img tool.

    Returns:
        The launcher File.
    """
    specs = spec if type(spec) == "list" else [spec]
    return write_img_script(ctx, img, "deploy --root \"$root\" " + " ".join(["--spec \"$root/%s\"" % s.short_path for s in specs]))

def image_attr(verb):
    """The image attribute of image_push and image_load.

    Args:
        verb: "push" or "load", for the docs.

    Returns:
        The attribute.
    """
    return attr.label(
        doc = ("image_manifest or image_index to %s, or a filegroup of one, such as the platform_transition_filegroup " +
               "rules_oci's docs put around an oci_image (the image is then built for that platform).") % verb,
        aspects = [forwarded_image_aspect],
        mandatory = True,
    )

def deploy_attrs(verb, lazy, strategy_setting):
    """Attributes image_push, image_load and their specs share.

    Args:
        verb: "push" or "load", for the docs.
        lazy: what the lazy strategy does, for the docs.
        strategy_setting: label of the setting "auto" resolves through.

    Returns:
        dict of attributes, stamping's included.
    """
    return dict({
        "tracks_content": attr.bool(
            doc = "Fill the templates again whenever the image changes: the image's descriptor becomes an input of " +
                  "the action that fills them, so a tag made from a volatile status value (e.g. {{.BUILD_TIMESTAMP}}) " +
                  "follows the image instead of keeping its first value. {{.digest}} is the image's digest either way.",
        ),
        "strategy": attr.string(
            doc = "".join([
                "\"%s\" (%s), " % (name, s.doc or lazy)
                for name, s in STRATEGIES.items()
                if s.for_load or verb == "push"
            ]) + ("or \"auto\": %s." % strategy_setting),
            default = "auto",
            values = ["auto"] + [name for name, s in STRATEGIES.items() if s.for_load or verb == "push"],
        ),
        "_strategy": attr.label(default = strategy_setting),
        "_remote_cache": attr.label(default = "//img/settings:remote_cache"),
        "_remote_instance_name": attr.label(default = "//img/settings:remote_instance_name"),
        "_credential_helper": attr.label(default = "//img/settings:credential_helper"),
        "_credential_helper_remote_cache": attr.label(default = "//img/settings:credential_helper_remote_cache"),
        "_credential_helper_oci_registry": attr.label(default = "//img/settings:credential_helper_oci_registry"),
        "_digest_function": attr.label(default = "//img/settings:digest_function"),
    }, **STAMP_ATTRS)

def remote_cache_fields(ctx):
    """The deploy spec's fields that say how to reach the Bazel remote cache."""
    return {
        "remote_cache": ctx.attr._remote_cache[BuildSettingInfo].value,
        "remote_instance_name": ctx.attr._remote_instance_name[BuildSettingInfo].value,
        # Scoped to the cache, it wins over the unscoped one (upstream's precedence).
        "credential_helper": ctx.attr._credential_helper_remote_cache[BuildSettingInfo].value or
                             ctx.attr._credential_helper[BuildSettingInfo].value,
        "registry_credential_helper": ctx.attr._credential_helper_oci_registry[BuildSettingInfo].value,
    } | ({} if ctx.attr._digest_function[BuildSettingInfo].value == "sha256" else {
        "cas_digest_function": ctx.attr._digest_function[BuildSettingInfo].value,
    })

def strategy(ctx):
    """The strategy attribute, with "auto" resolved through its setting."""
    if ctx.attr.strategy != "auto":
        return ctx.attr.strategy
    return ctx.attr._strategy[BuildSettingInfo].value

def deploy_settings(ctx, operation, repository, tags, registry = "", fields = {}, file_fields = {}, manifest_tags = [], tracks_content = False, runfiles = []):
    """What a push or load target (or spec) says, resolved in its own configuration.

    Args:
        ctx: context of a rule with deploy_attrs() (image_push, image_load and their specs).
        operation: "push" or "load".
        repository: string, possibly holding stamp templates.
        tags: list of strings, possibly holding stamp templates.
        registry: string (push only), possibly holding stamp templates.
        fields: dict, more spec fields of the operation.
        file_fields: dict, more spec fields that name a File.
        manifest_tags: list of tag templates, filled per manifest of an index.
        tracks_content: restamp whenever the image changes.
        runfiles: list of runfiles the operation needs besides its own (another push's, for cross_mount_from).

    Returns:
        dict, the settings deploy_plan takes.
    """
    return {
        "operation": operation,
        "strategy": strategy(ctx),
        "stamp": stamping(ctx),
        "vars": template_vars(ctx),
        "registry": registry,
        "repository": repository,
        "tags": tags,
        "manifest_tags": manifest_tags,
        "tracks_content": tracks_content,
        "fields": dict(fields, **remote_cache_fields(ctx)),
        "file_fields": file_fields,
        "runfiles": runfiles,
    }

def _platform_vars(m):
    p = m.platform
    arch = p["architecture"]
    out = {"os": p["os"], "architecture": arch, "arch": arch, "cpu": arch, "variant": p.get("variant", "")}
    out["platform"] = "/".join([p["os"], arch] + ([p["variant"]] if p.get("variant") else []))
    return out

def deploy_plan(ctx, name, settings, image, image_label, label):
    """Fills in the templates of settings for one image: the plan of one operation.

    Args:
        ctx: the rule context (it has the img toolchain).
        name: prefix of the files declared for the operation.
        settings: from deploy_settings.
        image: ImageManifestInfo or ImageIndexInfo.
        image_label: Label of the image target, for {{.image_target_name}} and {{.image_target_package}}.
        label: string, the operation's name in messages.

    Returns:
        dict: the settings with the image, the label and the stamp file.
    """
    if settings["manifest_tags"] and not _is_index(image):
        fail("%s: manifest_tags tag each manifest of an image_index, and %s is a single image_manifest; use tag or tag_list" % (label, display_label(image_label)))
    if settings["operation"] == "load" and not settings["repository"]:
        settings = dict(settings, repository = image_label.package or image_label.name)
    vars = dict(settings["vars"])
    vars.setdefault("image_target_name", image_label.name)
    vars.setdefault("image_target_package", image_label.package)
    stamp = stamped(
        ctx,
        name,
        settings["stamp"],
        vars,
        settings["registry"],
        settings["repository"],
        settings["tags"],
        manifest_tags = settings["manifest_tags"],
        platforms = [_platform_vars(m) for m in image.manifests] if _is_index(image) else [],
        descriptor = image.descriptor,
        tracks_content = settings["tracks_content"],
    )
    file_fields = dict(settings["file_fields"])
    if stamp:
        file_fields["stamped"] = stamp
    return dict(settings, image = image, label = label, file_fields = file_fields)

def deploy_files(ctx, name, plan, stage):
    """Writes the deploy spec of a plan, and the push request of the bes strategy.

    Args:
        ctx: the rule context (it has the img toolchain).
        name: prefix of the declared files' names.
        plan: from deploy_plan (its strategy may have been replaced since).
        stage: from new_stager.

    Returns:
        struct(spec = File, files = list of Files the spec names, runfiles = what it needs at run time,
        outputs = list of Files to build).
    """
    op_strategy = plan["strategy"]
    image, image_files, access = staged_image_spec(stage, plan["image"], STRATEGIES[op_strategy].blobs_in_runfiles)
    spec = {
        "operation": plan["operation"],
        "label": plan["label"],
        "repository": plan["repository"],
        "tags": plan["tags"],
        "strategy": op_strategy,
        "source_access": access,
    }
    if plan["registry"]:
        spec["registry"] = plan["registry"]
    spec.update(plan["fields"])
    if plan.get("sign"):
        spec["sign"] = _sign_field(plan["sign"])
    referrers = []
    for k, info in enumerate(plan.get("referrers", [])):
        # Named by the operation too: an image's push_specs share one stager.
        r, r_files, _ = staged_image_spec(_prefixed(stage, "%s.r%d/" % (name, k)), info, STRATEGIES[op_strategy].blobs_in_runfiles)
        referrers.append(r)
        image_files = image_files + r_files
    if referrers:
        spec["referrers"] = referrers
    file_fields = plan["file_fields"]
    outputs = []
    if STRATEGIES[op_strategy].push_request:
        exec_stage = new_stager(ctx, "", path = lambda f: f.path)
        exec_image, exec_files, _ = staged_image_spec(exec_stage, plan["image"], False)
        request = dict(spec)
        if referrers:
            request["referrers"] = []
            for info in plan["referrers"]:
                r, r_files, _ = staged_image_spec(exec_stage, info, False)
                request["referrers"].append(r)
                exec_files = exec_files + r_files
        outputs.append(push_request(ctx, name, request, file_fields, exec_image, exec_files))
    run_spec = dict(spec, image = image)
    for field, f in file_fields.items():
        run_spec[field] = f.short_path
    spec_file = ctx.actions.declare_file(name + ".deploy.json")
    ctx.actions.write(spec_file, json.encode_indent(run_spec))
    files = [spec_file] + image_files + file_fields.values()
    return struct(
        spec = spec_file,
        files = files,
        runfiles = ctx.runfiles(files = files).merge_all(plan["runfiles"]),
        outputs = outputs,
    )

def _prefixed(stage, prefix):
    return lambda f, name: stage(f, prefix + name)

def _sign_field(sign):
    # The spec's "sign": the plugin by its runfiles path, or its command.
    config = sign.config
    field = {"mode": sign.mode, "config": display_label(config.label), "targets": config.targets}
    if config.tool:
        field["tool"] = config.tool.short_path
    else:
        field["command"] = config.command
    if config.args:
        field["args"] = config.args
    if config.env:
        field["env"] = config.env
    return field

def deploy_operation(ctx, settings):
    """What image_push and image_load have in common: the spec, the launcher, the runfiles.

    Args:
        ctx: context of a rule with deploy_attrs(), the img toolchain and LAUNCHER_EXEC_GROUPS.
        settings: from deploy_settings.

    Returns:
        struct(providers = [DefaultInfo, DeployInfo], access = the base image's access dict or None).
    """
    name = ctx.label.name
    plan = deploy_plan(ctx, name, settings, image_info(ctx.attr.image), ctx.attr.image.label, display_label(ctx.label))
    written = deploy_files(ctx, name, plan, new_stager(ctx, name + ".image"))
    img = launcher_img(ctx)
    launcher = write_launcher(ctx, written.spec, img)
    runfiles = written.runfiles
    return struct(
        providers = [
            DefaultInfo(
                executable = launcher,
                files = depset([launcher, written.spec] + written.outputs),
                runfiles = runfiles.merge(ctx.runfiles(files = [img])),
            ),
            DeployInfo(
                spec = written.spec,
                operation = plan["operation"],
                operations = [struct(name = name, spec = written.spec, operation = plan["operation"], runfiles = runfiles, plan = plan)],
            ),
        ],
        access = image_access(plan["image"]),
    )

def image_access(info):
    """The access dict of the first pulled base among an image's manifests.

    Args:
        info: ImageManifestInfo or ImageIndexInfo.

    Returns:
        dict, or None when no manifest has a pulled base.
    """
    for m in (info.manifests if _is_index(info) else [info]):
        if m.base:
            return m.base.access
    return None

SPEC_ATTRS = {
    "push_specs": attr.label_list(
        doc = "image_push_spec targets: pushes of this image that multi_deploy runs when it is among its operations.",
        providers = [DeploySpecInfo],
    ),
    "load_specs": attr.label_list(
        doc = "image_load_spec targets: loads of this image that multi_deploy runs when it is among its operations.",
        providers = [DeploySpecInfo],
    ),
}

def carried_operations(ctx, info):
    """The DeployInfo of an image's push_specs and load_specs (SPEC_ATTRS).

    Args:
        ctx: context of image_manifest or image_index (it has the img toolchain).
        info: the image's ImageManifestInfo or ImageIndexInfo.

    Returns:
        (list of providers: DeployInfo, or none without specs; list of Files the build writes for them).
    """
    specs = [("push", t) for t in ctx.attr.push_specs] + [("load", t) for t in ctx.attr.load_specs]
    if not specs:
        return [], []
    stage = new_stager(ctx, ctx.label.name + ".image")
    operations, outputs = [], []
    for i, (kind, target) in enumerate(specs):
        spec = target[DeploySpecInfo]
        if spec.settings["operation"] != kind:
            fail("%s: %s_specs: %s is an image_%s_spec; put it in %s_specs" % (
                display_label(ctx.label),
                kind,
                display_label(target.label),
                spec.settings["operation"],
                spec.settings["operation"],
            ))
        name = "%s.%s%d" % (ctx.label.name, kind, i)
        label = "%s (%s)" % (display_label(ctx.label), display_label(spec.label))
        plan = deploy_plan(ctx, name, spec.settings, info, ctx.label, label)
        written = deploy_files(ctx, name, plan, stage)
        outputs += written.outputs
        operations.append(struct(name = name, spec = written.spec, operation = kind, runfiles = written.runfiles, plan = plan))
    return [DeployInfo(spec = None, operation = None, operations = operations)], outputs
