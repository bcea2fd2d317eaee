"""image_manifest: a single-platform image from layers and config attributes."""

load(":labels.bzl", "display_label")
load(":layout.bzl", "oci_layout", "split_layers")
load(":platform.bzl", "PLATFORM_ATTRS", "target_image_platform")
load(":providers.bzl", "BaseImageInfo", "ImageManifestInfo", "LayerInfo")
load(":toolchain.bzl", "img_tool")

_CONFIG_ATTRS = [
    "entrypoint",
    "cmd",
    "exposed_ports",
    "volumes",
    "env",
    "labels",
    "annotations",
    "user",
    "working_dir",
    "stop_signal",
    "created",
]

def _config_spec(ctx):
    # Unset (empty) attributes stay out, so the config fragment's values stand.
    spec = {name: getattr(ctx.attr, name) for name in _CONFIG_ATTRS if getattr(ctx.attr, name)}
    spec["target"] = display_label(ctx.label)
    if ctx.file.config_fragment:
        spec["config_fragment"] = ctx.file.config_fragment.path
    return spec

def _same_platform(a, b):
    # arm64 images often omit the variant, which then means v8.
    def norm(p):
        variant = p.get("variant", "")
        if p["architecture"] == "arm64" and variant == "":
            variant = "v8"
        return (p["os"], p["architecture"], variant)

    return norm(a) == norm(b)

def _platform_name(p):
    return "/".join([p["os"], p["architecture"]] + ([p["variant"]] if p.get("variant") else []))

def _select_base(ctx, platform):
    base = ctx.attr.base[BaseImageInfo]
    for m in base.manifests:
        if _same_platform(m.platform, platform):
            return base, m
    fail("base: %s (%s/%s@%s) has no image for %s; it has %s. Build for one of those platforms or pick another base." % (
        ctx.attr.base.label,
        base.registry,
        base.repository,
        base.digest,
        _platform_name(platform),
        ", ".join([_platform_name(m.platform) for m in base.manifests]),
    ))

def _image_manifest_impl(ctx):
    platform = target_image_platform(ctx, ctx.attr.platform)
    own_layers = [layer[LayerInfo] for layer in ctx.attr.layers]
    base, base_manifest = (None, None)
    if ctx.attr.base:
        base, base_manifest = _select_base(ctx, platform)

    spec = ctx.actions.declare_file(ctx.label.name + ".config_spec.json")
    ctx.actions.write(spec, json.encode(_config_spec(ctx)))
    manifest = ctx.actions.declare_file(ctx.label.name + ".manifest.json")
    config = ctx.actions.declare_file(ctx.label.name + ".config.json")
    descriptor = ctx.actions.declare_file(ctx.label.name + ".descriptor.json")

    args = ctx.actions.args()
    args.add("manifest")
    args.add_all([layer.metadata for layer in own_layers], before_each = "--layer")
    if base_manifest:
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
    if base_manifest:
        inputs += [base_manifest.config, base_manifest.manifest]
    if ctx.file.config_fragment:
        inputs.append(ctx.file.config_fragment)

    # Only metadata goes in: the manifest never waits on or reads layer bytes.
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = inputs,
        outputs = [manifest, config, descriptor],
        mnemonic = "ImageManifest",
        progress_message = "Writing image manifest %{label}",
        toolchain = "//img:toolchain_type",
    )

    layers = (base_manifest.layers if base_manifest else []) + own_layers
    local, remote = split_layers(layers)
    layout = oci_layout(
        ctx,
        descriptor,
        depset([manifest, config] + local),
        remote_layers = remote,
        fetch_flags = base.fetch_flags if base else [],
    )
    return [
        DefaultInfo(files = depset([manifest, config, descriptor])),
        OutputGroupInfo(
            oci_layout = depset([layout]),
            descriptor = depset([descriptor]),
        ),
        ImageManifestInfo(
            manifest = manifest,
            config = config,
            descriptor = descriptor,
            platform = platform,
            layers = layers,
            base = base,
            oci_layout = layout,
        ),
    ]

image_manifest = rule(
    implementation = _image_manifest_impl,
    doc = """A single-platform OCI image: config and manifest, written from layer metadata.

The platform comes from the target platform's @platforms constraints (build it
through image_index(platforms = ...) or --platforms), or from `platform`.
Outputs: the manifest, config and descriptor; output group `oci_layout` holds
the image as an OCI image layout directory (skopeo, crane, `ctr images import`).""",
    attrs = dict(
        PLATFORM_ATTRS,
        layers = attr.label_list(
            doc = "Layers, bottom first: image_layer, layer_from_tar or anything with LayerInfo.",
            providers = [LayerInfo],
        ),
        base = attr.label(
            doc = "A base image from pull(): its layers come first and its config is inherited " +
                  "(env, entrypoint, cmd, user, working_dir, labels) unless an attribute overrides it. " +
                  "For a multi-platform base, the manifest for the target platform is used.",
            providers = [BaseImageInfo],
        ),
        entrypoint = attr.string_list(doc = "Config Entrypoint."),
        cmd = attr.string_list(doc = "Config Cmd: the default arguments."),
        env = attr.string_dict(doc = "Environment variables; $VAR and ${VAR} expand to values inherited from config_fragment."),
        user = attr.string(doc = "User (name, uid or uid:gid) the process runs as."),
        working_dir = attr.string(doc = "Working directory of the process."),
        labels = attr.string_dict(doc = "Config labels."),
        annotations = attr.string_dict(doc = "Manifest annotations."),
        exposed_ports = attr.string_list(doc = "Ports such as \"8080/tcp\" or \"53/udp\"; a bare number means tcp."),
        volumes = attr.string_list(doc = "Volume mount points."),
        stop_signal = attr.string(doc = "Signal that stops the container, e.g. SIGTERM."),
        created = attr.string(doc = "Creation time (RFC 3339). Default 1970-01-01T00:00:00Z, for reproducibility."),
        config_fragment = attr.label(
            doc = "An OCI image config JSON to start from; the attributes above override its fields.",
            allow_single_file = [".json"],
        ),
        platform = attr.string(doc = "os/architecture[/variant] to use instead of the target platform's, e.g. linux/arm64."),
    ),
    toolchains = ["//img:toolchain_type"],
)
