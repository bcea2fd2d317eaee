"""image_optimize: an image or index with every layer recompressed."""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load(":common/compression.bzl", "ALGORITHM_OF_MEDIA_TYPE", "COMPRESSION_ATTRS", "COMPRESS_VALUES", "ESTARGZ_VALUES", "check_estargz", "estargz_enabled")
load(":common/labels.bzl", "display_label")
load(":image_index.bzl", "write_index")
load(":layer_from_tar.bzl", "tar_layer")
load(":layout.bzl", "oci_layout")
load(":platforms/platform.bzl", "platform_name")
load(":providers/providers.bzl", "ImageIndexInfo", "ImageManifestInfo")
load(":toolchain.bzl", "img_args", "img_tool")

def _algorithm(ctx):
    value = ctx.attr.compress
    if value == "auto":
        value = ctx.attr._compress[BuildSettingInfo].value
    return value

def _optimize_manifest(ctx, image, algorithm, prefix):
    estargz = estargz_enabled(ctx, ctx.attr.estargz)
    if estargz:
        check_estargz(display_label(ctx.label), algorithm)
    layers = []
    for i, layer in enumerate(image.layers):
        if not layer.blob:
            fail(("%s: image: layer %d of %s's %s image is a base layer pulled shallowly, and image_optimize " +
                  "rewrites every layer's bytes. Pull that base with layer_handling = \"eager\" (or \"lazy\"), " +
                  "or optimize the layers you build instead (their compress attribute).") % (
                display_label(ctx.label),
                i + 1,
                display_label(ctx.attr.image.label),
                platform_name(image.platform),
            ))

        # A layer already in the wanted compression keeps its bytes (not when
        # eStargz is asked: whether it is eStargz already is not known here).
        if not estargz and ALGORITHM_OF_MEDIA_TYPE.get(layer.media_type) == algorithm:
            layers.append(layer)
            continue

        # The tar goes through as it is: an existing image's layer may hold
        # what a new one may not (duplicates, devices), and it is not ours
        # to judge; only entries that escape the root are refused.
        layers.append(tar_layer(
            ctx,
            layer.blob,
            "%s.layers/%d" % (prefix, i),
            compress = algorithm,
            validation = "traversal_only",
            allow_duplicate_paths = True,
            allow_device_files = True,
            estargz = "enabled" if estargz else "disabled",
        ))
    manifest = ctx.actions.declare_file(prefix + ".manifest.json")
    config = ctx.actions.declare_file(prefix + ".config.json")
    descriptor = ctx.actions.declare_file(prefix + ".descriptor.json")
    args = img_args(ctx)
    args.add("optimize")
    args.add("--target", display_label(ctx.label))
    args.add("--source-manifest", image.manifest)
    args.add("--source-config", image.config)
    args.add_all([layer.metadata for layer in layers], before_each = "--layer")
    args.add("--manifest", manifest)
    args.add("--config", config)
    args.add("--descriptor", descriptor)
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = [image.manifest, image.config] + [layer.metadata for layer in layers],
        outputs = [manifest, config, descriptor],
        mnemonic = "ImageOptimize",
        progress_message = "Writing optimized manifest %{label}",
        toolchain = "//img:toolchain_type",
    )
    return ImageManifestInfo(
        manifest = manifest,
        config = config,
        descriptor = descriptor,
        platform = image.platform,
        layers = layers,
        base = None,
        oci_layout = None,
    )

def _image_optimize_impl(ctx):
    algorithm = _algorithm(ctx)
    target = ctx.attr.image
    if ImageManifestInfo in target:
        image = _optimize_manifest(ctx, target[ImageManifestInfo], algorithm, ctx.label.name)
        layout = oci_layout(ctx, image.descriptor, depset([image.manifest, image.config] + [layer.blob for layer in image.layers]))
        return [
            DefaultInfo(files = depset([image.manifest, image.config, image.descriptor])),
            OutputGroupInfo(oci_layout = depset([layout]), descriptor = depset([image.descriptor])),
            ImageManifestInfo(
                manifest = image.manifest,
                config = image.config,
                descriptor = image.descriptor,
                platform = image.platform,
                layers = image.layers,
                base = None,
                oci_layout = layout,
            ),
        ]
    manifests = [
        _optimize_manifest(ctx, m, algorithm, "%s_%d" % (ctx.label.name, i))
        for i, m in enumerate(target[ImageIndexInfo].manifests)
    ]
    index, descriptor = write_index(ctx, manifests)
    layout = oci_layout(ctx, descriptor, depset(
        [index] + [f for m in manifests for f in [m.manifest, m.config] + [layer.blob for layer in m.layers]],
    ))
    return [
        DefaultInfo(files = depset([index, descriptor])),
        OutputGroupInfo(oci_layout = depset([layout]), descriptor = depset([descriptor])),
        ImageIndexInfo(index = index, descriptor = descriptor, manifests = manifests, oci_layout = layout),
    ]

image_optimize = rule(
    implementation = _image_optimize_impl,
    doc = """An image_manifest or image_index with every layer recompressed.

Example:
```
image_optimize(
    name = "app_zstd",
    image = ":app",          # an image_manifest or image_index
    compress = "zstd",
)
```
Each layer not already in `compress` is decompressed and written again in one
action (layer_from_tar's, with only path traversal refused: the tar is kept as
it is); a layer already in it keeps its bytes. The config keeps its bytes too
unless a layer's tar had to change (non-canonical names), when only its
diff_ids do. The manifest is written anew as an OCI manifest (Docker media types
become OCI ones), with the source's annotations.

Every layer's bytes must be in the build: a base pulled shallowly fails with a
message that names the layer; pull it with layer_handling = "eager" or "lazy".
Outputs and providers are those of the kind of image given.""",
    attrs = dict(
        COMPRESSION_ATTRS,
        image = attr.label(
            doc = "The image_manifest or image_index (or any ImageManifestInfo / ImageIndexInfo) to rewrite.",
            mandatory = True,
            providers = [[ImageManifestInfo], [ImageIndexInfo]],
        ),
        compress = attr.string(
            doc = ", ".join(COMPRESS_VALUES[1:]) + "; auto follows --@rules_img//img/settings:compress.",
            default = "auto",
            values = COMPRESS_VALUES,
        ),
        estargz = attr.string(
            doc = "enabled rewrites every layer as eStargz (gzip with a table of contents, for lazy pulling), " +
                  "also those already gzip. auto follows --@rules_img//img/settings:estargz; the default, " +
                  "disabled, leaves the format alone.",
            default = "disabled",
            values = ESTARGZ_VALUES,
        ),
    ),
    toolchains = ["//img:toolchain_type"],
)
