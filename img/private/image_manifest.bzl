"""image_manifest: a single-platform image from layers and config attributes."""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load(":common/compression.bzl", "COMPRESSION_ATTRS", "TAR_EXTENSIONS")
load(":common/labels.bzl", "display_label")
load(":common/soci.bzl", "SOCI_MANIFEST_ATTRS", "soci_index")
load(":deploy.bzl", "SPEC_ATTRS")
load(":image_providers.bzl", "image_providers")
load(":layer_from_tar.bzl", "tar_layer")
load(":layout.bzl", "oci_layout", "split_layers")
load(":platforms/platform.bzl", "PLATFORM_ATTRS", "platform_name", "same_platform", "target_image_platform")
load(":providers/providers.bzl", "BaseImageInfo", "ImageIndexInfo", "ImageManifestInfo", "LayerConfigInfo", "LayerGroupInfo", "LayerInfo")
load(":stamp.bzl", "STAMP_ATTRS", "stamping", "template_vars")
load(":toolchain.bzl", "img_args", "img_tool")

# The default of the config attributes a base image can supply. Left alone,
# the base's value stands; "" or [] unsets it. In entrypoint and cmd the item
# stands for the base's list, so [INHERIT_FROM_BASE, "-v"] appends to it. The
# NUL byte keeps it apart from any real value; it travels to img in the JSON
# spec (pkg/oci.InheritFromBase), never on a command line.
INHERIT_FROM_BASE = "<inherit from base>\0"

_INHERITED_LISTS = ["entrypoint", "cmd"]
_INHERITED_STRINGS = ["user", "working_dir", "stop_signal"]
_SET_WHEN_GIVEN = ["exposed_ports", "volumes", "env", "labels", "annotations", "created", "artifact_type", "config_media_type"]

# Tar files in `layers` become layers as layer_from_tar would make them.

def _layer_config(ctx):
    # The config layers bring along (layer_from_binary's); a later layer wins.
    config = {"env": {}}
    for target in ctx.attr.layers:
        if LayerConfigInfo not in target:
            continue
        c = target[LayerConfigInfo]
        for name in ("entrypoint", "cmd", "working_dir"):
            if getattr(c, name) != None:
                config[name] = getattr(c, name)
        config["env"].update(c.env)
    return config

def _config_spec(ctx, soci):
    layer_config = _layer_config(ctx)
    spec = {name: getattr(ctx.attr, name) for name in _SET_WHEN_GIVEN if getattr(ctx.attr, name)}
    if layer_config["env"]:
        spec["env"] = dict(layer_config["env"], **ctx.attr.env)
    for name in _INHERITED_LISTS:
        value = getattr(ctx.attr, name)
        if value != [INHERIT_FROM_BASE]:
            spec[name] = value
        elif name in layer_config:
            spec[name] = layer_config[name]
    for name in _INHERITED_STRINGS:
        value = getattr(ctx.attr, name)
        if value != INHERIT_FROM_BASE:
            spec[name] = value
        elif name in layer_config:
            spec[name] = layer_config[name]
    spec["target"] = display_label(ctx.label)
    created = _created_timestamp(ctx)
    if created:
        spec["created_timestamp"] = created
    if _has_templates(ctx):
        spec["vars"] = template_vars(ctx)
    if ctx.file.created_file:
        spec["created_file"] = ctx.file.created_file.path
    if ctx.file.config_fragment:
        spec["config_fragment"] = ctx.file.config_fragment.path
    if ctx.attr.subject:
        spec["subject"] = _subject_descriptor(ctx).path
    if soci:
        spec["soci_index"] = soci.descriptor.path
    if ctx.attr.config_files:
        spec["files"] = {field: f.path for field, f in _config_files(ctx).items()}
    for key, files in _kv_files(ctx).items():
        if files:
            spec[key] = [f.path for f in files]
    return spec

def _subject_descriptor(ctx):
    # The descriptor of the image this manifest refers to.
    subject = ctx.attr.subject
    if ImageIndexInfo in subject:
        return subject[ImageIndexInfo].descriptor
    return subject[ImageManifestInfo].descriptor

def _kv_files(ctx):
    # Upstream's env_file, label_files and annotations_file, by spec field.
    return {
        "env_files": [ctx.file.env_file] if ctx.file.env_file else [],
        "label_files": ctx.files.label_files,
        "annotation_files": [ctx.file.annotations_file] if ctx.file.annotations_file else [],
    }

_CONFIG_FILE_FIELDS = ["env", "labels", "annotations", "entrypoint", "cmd", "exposed_ports", "volumes"]

def _config_files(ctx):
    # field -> File, checked here so a typo fails at analysis, naming the target.
    files = {}
    for target, field in ctx.attr.config_files.items():
        got = target.files.to_list()
        if field not in _CONFIG_FILE_FIELDS or len(got) != 1 or field in files:
            fail("%s: config_files: %s -> %r: map one file each to one of %s" % (
                display_label(ctx.label),
                display_label(target.label),
                field,
                ", ".join(_CONFIG_FILE_FIELDS),
            ))
        files[field] = got[0]
    return files

def _has_templates(ctx):
    values = [v for d in (ctx.attr.env, ctx.attr.labels, ctx.attr.annotations) for v in d.values()]
    return [v for v in values + [_created_timestamp(ctx)] if "{{" in v]

def _created_timestamp(ctx):
    # created_timestamp, or stamp_created's shorthand for the build time;
    # created (a time or a file) wins over stamp_created and excludes created_timestamp.
    fixed = ctx.attr.created or ctx.file.created_file
    if ctx.attr.created_timestamp:
        if fixed:
            fail("%s: created and created_timestamp both set the creation time; keep one" % display_label(ctx.label))
        return ctx.attr.created_timestamp
    stamp_created = ctx.attr.stamp_created
    if stamp_created == "auto":
        stamp_created = ctx.attr._stamp_created[BuildSettingInfo].value
    if stamp_created == "enabled" and not fixed:
        return "{{.BUILD_TIMESTAMP_RFC3339}}"
    return ""

def _select_base(ctx, platform):
    # Returns (BaseImageInfo of the registry the shallow layers come from, or
    # None; the base's manifest for platform: a struct or ImageManifestInfo).
    target = ctx.attr.base
    if BaseImageInfo in target:
        source = target[BaseImageInfo]
        candidates = source.manifests
        where = " (%s/%s@%s)" % (source.registry, source.repository, source.digest)
    elif ImageIndexInfo in target:
        source = None
        candidates = target[ImageIndexInfo].manifests
        where = ""
    else:
        source = None
        candidates = [target[ImageManifestInfo]]
        where = ""
    for m in candidates:
        if same_platform(m.platform, platform):
            # A local base's own shallow layers still come from its pulled base.
            return source or getattr(m, "base", None), m
    fail("%s: base: %s%s has no image for %s; it has %s. Build for one of those platforms or pick another base." % (
        display_label(ctx.label),
        display_label(target.label),
        where,
        platform_name(platform),
        ", ".join([platform_name(m.platform) for m in candidates]),
    ))

def _own_layers(ctx):
    layers = []
    for i, target in enumerate(ctx.attr.layers):
        if LayerInfo in target:
            layers.append(target[LayerInfo])
            continue
        if LayerGroupInfo in target:
            layers.extend(target[LayerGroupInfo].layers)
            continue
        files = target[DefaultInfo].files.to_list()
        bad = [f.short_path for f in files if not [e for e in TAR_EXTENSIONS if f.basename.endswith(e)]]
        if bad or not files:
            fail(("%s: layers: %s is neither a layer (image_layer, layer_from_tar, ...) nor tar files " +
                  "(%s): it gives %s. Wrap it in layer_from_tar or image_layer.") % (
                display_label(ctx.label),
                display_label(target.label),
                ", ".join(TAR_EXTENSIONS),
                ", ".join(bad) if bad else "no files",
            ))
        for j, f in enumerate(files):
            layers.append(tar_layer(ctx, f, "%s.tar_layers/%d_%d" % (ctx.label.name, i, j)))
    return layers

def _base_platform(ctx):
    # The platform of a base that has only one, or None.
    target = ctx.attr.base
    if not ctx.attr.platform_from_base or not target or ctx.attr.platform:
        return None
    if BaseImageInfo in target:
        candidates = target[BaseImageInfo].manifests
    elif ImageIndexInfo in target:
        candidates = target[ImageIndexInfo].manifests
    else:
        candidates = [target[ImageManifestInfo]]
    return candidates[0].platform if len(candidates) == 1 else None

def _image_manifest_impl(ctx):
    platform = _base_platform(ctx) or target_image_platform(ctx, ctx.attr.platform)
    own_layers = _own_layers(ctx)
    base, base_manifest = (None, None)
    if ctx.attr.base:
        base, base_manifest = _select_base(ctx, platform)

    layers = (base_manifest.layers if base_manifest != None else []) + own_layers
    soci = soci_index(ctx, layers)
    spec = ctx.actions.declare_file(ctx.label.name + ".config_spec.json")
    ctx.actions.write(spec, json.encode(_config_spec(ctx, soci)))
    manifest = ctx.actions.declare_file(ctx.label.name + ".manifest.json")
    config = ctx.actions.declare_file(ctx.label.name + ".config.json")
    descriptor = ctx.actions.declare_file(ctx.label.name + ".descriptor.json")

    args = img_args(ctx)
    args.add("manifest")
    args.add_all([layer.metadata for layer in own_layers], before_each = "--layer")
    if base_manifest != None:
        args.add("--base-config", base_manifest.config)
        args.add("--base-manifest", base_manifest.manifest)
    args.add("--config-spec", spec)
    args.add("--os", platform["os"])
    args.add("--arch", platform["architecture"])
    if "variant" in platform:
        args.add("--variant", platform["variant"])
    args.add("--manifest", manifest)
    args.add("--config", config)
    args.add("--descriptor", descriptor)
    inputs = [spec] + [layer.metadata for layer in own_layers]
    if base_manifest != None:
        inputs += [base_manifest.config, base_manifest.manifest]
    if ctx.file.config_fragment:
        inputs.append(ctx.file.config_fragment)
    if ctx.file.created_file:
        inputs.append(ctx.file.created_file)
    if ctx.attr.subject:
        inputs.append(_subject_descriptor(ctx))
    if soci:
        inputs.append(soci.descriptor)
    inputs += _config_files(ctx).values()
    inputs += [f for files in _kv_files(ctx).values() for f in files]
    if _has_templates(ctx) and stamping(ctx):
        args.add("--status", ctx.info_file)
        args.add("--status", ctx.version_file)
        inputs += [ctx.info_file, ctx.version_file]

    # Only metadata goes in: the manifest never reads layer bytes (with soci,
    # it waits for the ztocs, which do).
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = inputs,
        outputs = [manifest, config, descriptor],
        mnemonic = "ImageManifest",
        progress_message = "Writing image manifest %{label}",
        toolchain = "//img:toolchain_type",
    )

    local, remote = split_layers(layers)
    layout = oci_layout(
        ctx,
        descriptor,
        depset([manifest, config] + local),
        remote_layers = remote,
        access = base.access if base != None else None,
    )
    info = ImageManifestInfo(
        manifest = manifest,
        config = config,
        descriptor = descriptor,
        platform = platform,
        layers = layers,
        base = base,
        oci_layout = layout,
        soci = soci,
    )
    return image_providers(ctx, info, [manifest, config, descriptor] + ([soci.manifest, soci.descriptor] if soci else []))

_PLATFORMS = "//command_line_option:platforms"

def _platform_target_impl(settings, attr):
    if attr.platform_target == None:
        return {_PLATFORMS: settings[_PLATFORMS]}
    return {_PLATFORMS: [str(attr.platform_target)]}

# platform = "//some:platform" builds the image, its layers and its base for
# that platform, as upstream rules_img does.
_platform_target = transition(
    implementation = _platform_target_impl,
    inputs = [_PLATFORMS],
    outputs = [_PLATFORMS],
)

image_manifest = rule(
    implementation = _image_manifest_impl,
    cfg = _platform_target,
    doc = """A single-platform OCI image: config and manifest, written from layer metadata.

The platform comes from the target platform's @platforms constraints (build it
through image_index(platforms = ...) or --platforms), or from `platform`.
Outputs: the manifest, config and descriptor; output group `oci_layout` holds
the image as an OCI image layout directory (skopeo, crane, `ctr images import`).

entrypoint, cmd, user, working_dir and stop_signal default to INHERIT_FROM_BASE
(load it from @rules_img//img:image.bzl): left alone, the base's value stands;
set to [] or "" they unset it. In entrypoint and cmd, an INHERIT_FROM_BASE item
is replaced by the base's list. Setting entrypoint without cmd drops a cmd the
base set, as Docker does.""",
    attrs = dict(
        PLATFORM_ATTRS,
        layers = attr.label_list(
            doc = "Layers, bottom first: image_layer, layer_from_tar, layer_from_binary or anything with LayerInfo, " +
                  "or tar files (plain, gzip or zstd), which become layers as layer_from_tar would make them. " +
                  "Config a layer brings along (LayerConfigInfo: layer_from_binary's entrypoint, cmd, env and " +
                  "working directory) applies where the attributes below are left alone.",
            allow_files = True,
        ),
        base = attr.label(
            doc = "The image to build on: a pull() repository, another image_manifest, or an image_index " +
                  "(the manifest for this image's platform is used). Its layers come first and its config " +
                  "is inherited (env, entrypoint, cmd, user, working_dir, labels, ...) unless an attribute " +
                  "overrides it.",
            providers = [[BaseImageInfo], [ImageManifestInfo], [ImageIndexInfo]],
        ),
        entrypoint = attr.string_list(doc = "Config Entrypoint.", default = [INHERIT_FROM_BASE]),
        cmd = attr.string_list(doc = "Config Cmd: the default arguments.", default = [INHERIT_FROM_BASE]),
        env = attr.string_dict(doc = "Environment variables; $VAR and ${VAR} expand to values inherited from the base or config_fragment. " +
                                     "Values may hold {{.KEY}} templates (build_settings; the workspace status when stamping)."),
        user = attr.string(doc = "User (name, uid or uid:gid) the process runs as.", default = INHERIT_FROM_BASE),
        working_dir = attr.string(doc = "Working directory of the process.", default = INHERIT_FROM_BASE),
        labels = attr.string_dict(doc = "Config labels; values may hold templates, as env's."),
        annotations = attr.string_dict(doc = "Manifest annotations; values may hold templates, as env's."),
        env_file = attr.label(
            doc = "More environment variables from a file: a JSON object (string values, or lists whose last item " +
                  "wins), a JSON array of \"KEY=VALUE\" strings, or KEY=VALUE lines (# comments). env wins over it.",
            allow_single_file = True,
        ),
        label_files = attr.label_list(
            doc = "More labels from files, in env_file's forms; a later file wins over an earlier one, labels over both.",
            allow_files = True,
        ),
        annotations_file = attr.label(
            doc = "More manifest annotations from a file, in env_file's forms; annotations wins over it.",
            allow_single_file = True,
        ),
        exposed_ports = attr.string_list(doc = "Ports such as \"8080/tcp\" or \"53/udp\"; a bare number means tcp."),
        volumes = attr.string_list(doc = "Volume mount points."),
        stop_signal = attr.string(doc = "Signal that stops the container, e.g. SIGTERM.", default = INHERIT_FROM_BASE),
        created = attr.string(doc = "Creation time (RFC 3339). Default 1970-01-01T00:00:00Z, for reproducibility."),
        created_timestamp = attr.string(
            doc = "Creation time as a template, e.g. \"{{.BUILD_TIMESTAMP_RFC3339}}\" (Bazel's build time when " +
                  "stamping; BUILD_TIMESTAMP converted to RFC 3339) or \"{{.RELEASE_TIME}}\" from build_settings. " +
                  "When it fills to nothing, or needs stamping the build lacks, the default stands, so an " +
                  "unstamped build stays reproducible. Excludes created.",
        ),
        stamp_created = attr.string(
            doc = "\"enabled\" is created_timestamp = \"{{.BUILD_TIMESTAMP_RFC3339}}\": the build time when stamping " +
                  "(the image is then no longer reproducible). \"auto\" follows //img/settings:stamp_created " +
                  "(default disabled). created and created_timestamp win over it.",
            default = "auto",
            values = ["auto", "enabled", "disabled"],
        ),
        _stamp_created = attr.label(default = "//img/settings:stamp_created"),
        created_file = attr.label(
            doc = "A file holding the creation time (RFC 3339), e.g. written by a stamped genrule. " +
                  "the image_manifest macro sets it for created = \":label\".",
            allow_single_file = True,
        ),
        config_fragment = attr.label(
            doc = "An OCI image config JSON to start from; the attributes above override its fields. " +
                  "With a config_media_type other than the image config's, the config blob itself, byte for byte.",
            allow_single_file = [".json"],
        ),
        config_files = attr.label_keyed_string_dict(
            doc = "Files that set config fields when the action runs, as rules_oci's file attributes do: " +
                  "file -> field. env, labels and annotations take NAME=VALUE lines; entrypoint, cmd, " +
                  "exposed_ports and volumes a comma-separated list. A field set here and by its attribute is an error.",
            allow_files = True,
        ),
        artifact_type = attr.string(
            doc = "The manifest's artifactType (OCI image spec 1.1): what an artifact holds, e.g. " +
                  "application/spdx+json for an SBOM or application/vnd.cncf.helm.chart.v1 for a chart.",
        ),
        subject = attr.label(
            doc = "An image_manifest or image_index this manifest refers to (OCI 1.1 subject), as an SBOM or a " +
                  "signature refers to its image: registries list it among the subject's referrers. Push it with the " +
                  "subject's image_push (referrers) so it lands beside it.",
            providers = [[ImageManifestInfo], [ImageIndexInfo]],
        ),
        config_media_type = attr.string(
            doc = "Make an artifact instead of an image: the config blob's media type. " +
                  "application/vnd.oci.empty.v1+json gives the empty config {} (artifact_type is then required); " +
                  "any other type, such as application/vnd.cncf.helm.config.v1+json, takes config_fragment as the blob. " +
                  "An artifact has no base and no image config fields (env, entrypoint, ...); its layers go in as they are " +
                  "(layer_from_file).",
        ),
        platform = attr.string(doc = "os/architecture[/variant] to use instead of the target platform's, e.g. linux/arm64."),
        platform_from_base = attr.bool(
            doc = "With a base that has one platform, build the image for that platform rather than the " +
                  "target platform's, as rules_oci does (its oci_image sets this when os and architecture are unset).",
        ),
        platform_target = attr.label(
            doc = "A platform to build the image for (a transition); the image_manifest macro sets it for platform = \"//label\".",
        ),
        **dict(COMPRESSION_ATTRS, **dict(SOCI_MANIFEST_ATTRS, **dict(STAMP_ATTRS, **SPEC_ATTRS)))
    ),
    toolchains = ["//img:toolchain_type"],
)
