"""image_manifest: a single-platform image from layers and config attributes."""

load(":labels.bzl", "display_label")
load(":layout.bzl", "oci_layout")
load(":platform.bzl", "PLATFORM_ATTRS", "target_image_platform")
load(":providers.bzl", "ImageManifestInfo", "LayerInfo")
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

def _image_manifest_impl(ctx):
    if ctx.attr.base:
        fail("base: base images from pull() are not supported yet in this version of rules_img; build from scratch (drop base) for now")
    platform = target_image_platform(ctx, ctx.attr.platform)
    layers = [layer[LayerInfo] for layer in ctx.attr.layers]

    spec = ctx.actions.declare_file(ctx.label.name + ".config_spec.json")
    ctx.actions.write(spec, json.encode(_config_spec(ctx)))
    manifest = ctx.actions.declare_file(ctx.label.name + ".manifest.json")
    config = ctx.actions.declare_file(ctx.label.name + ".config.json")
    descriptor = ctx.actions.declare_file(ctx.label.name + ".descriptor.json")

    args = ctx.actions.args()
    args.add("manifest")
    args.add_all([layer.metadata for layer in layers], before_each = "--layer")
    args.add("--config-spec", spec)
    args.add("--os", platform["os"])
    args.add("--arch", platform["architecture"])
    if "variant" in platform:
        args.add("--variant", platform["variant"])
    args.add("--manifest", manifest)
    args.add("--config", config)
    args.add("--descriptor", descriptor)
    inputs = [spec] + [layer.metadata for layer in layers]
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

    blobs = depset([manifest, config] + [layer.blob for layer in layers])
    layout = oci_layout(ctx, descriptor, blobs)
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
        base = attr.label(doc = "A base image from pull(). Not supported yet: setting it is an error."),
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
