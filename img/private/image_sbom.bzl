"""image_sbom: an SBOM of an image's own layers, as a referrer of the image."""

load(":common/labels.bzl", "display_label")
load(":image_manifest_macro.bzl", "image_manifest")
load(":layer_from_file.bzl", "layer_from_file")
load(":providers/providers.bzl", "ImageIndexInfo", "ImageManifestInfo")
load(":toolchain.bzl", "img_args", "img_tool")

_FORMATS = {
    "spdx": struct(flag = "--spdx", suffix = ".spdx.json", media_type = "application/spdx+json"),
    "cyclonedx": struct(flag = "--cyclonedx", suffix = ".cdx.json", media_type = "application/vnd.cyclonedx+json"),
}

def _base_manifest(m):
    # The pulled base manifest this image was built on (same platform).
    if not m.base:
        return None
    same = [b for b in m.base.manifests if b.platform == m.platform]
    if len(same) == 1:
        return same[0]
    return m.base.manifests[0] if len(m.base.manifests) == 1 else None

def _sbom_document_impl(ctx):
    target = ctx.attr.image
    if ImageIndexInfo in target:
        info = target[ImageIndexInfo]
        manifests = info.manifests
    else:
        info = target[ImageManifestInfo]
        manifests = [info]
    inputs = [info.descriptor]
    spec = {"name": display_label(target.label), "descriptor": info.descriptor.path, "manifests": [], "bases": []}
    bases = {}
    for m in manifests:
        base = _base_manifest(m)
        own = m.layers[len(base.layers):] if base else m.layers
        if m.base:
            bases[m.base.digest] = {"registry": m.base.registry, "repository": m.base.repository, "digest": m.base.digest}
        layers = []
        for layer in own:
            if not layer.blob:
                fail("%s: a layer of %s has no blob to read" % (display_label(ctx.label), display_label(target.label)))
            layers.append({"metadata": layer.metadata.path, "blob": layer.blob.path})
            inputs += [layer.metadata, layer.blob]
        spec["manifests"].append({"config": m.config.path, "layers": layers})
        inputs.append(m.config)
    spec["bases"] = [bases[d] for d in sorted(bases)]
    spec_file = ctx.actions.declare_file(ctx.label.name + ".sbom_spec.json")
    ctx.actions.write(spec_file, json.encode(spec))
    fmt = _FORMATS[ctx.attr.format]
    out = ctx.actions.declare_file(ctx.attr.out or ctx.label.name + fmt.suffix)
    args = img_args(ctx)
    args.add("sbom")
    args.add("--spec", spec_file)
    args.add(fmt.flag, out)
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = [spec_file] + inputs,
        outputs = [out],
        mnemonic = "ImageSBOM",
        progress_message = "Writing the %s SBOM of %s" % (ctx.attr.format, display_label(target.label)),
    )
    return [DefaultInfo(files = depset([out]))]

sbom_document = rule(
    implementation = _sbom_document_impl,
    doc = "The SBOM document of an image (image_sbom's first target).",
    attrs = {
        "image": attr.label(mandatory = True, providers = [[ImageManifestInfo], [ImageIndexInfo]]),
        "format": attr.string(default = "spdx", values = _FORMATS.keys()),
        "out": attr.string(),
    },
    toolchains = ["//img:toolchain_type"],
)

def image_sbom(name, image, format = "spdx", visibility = None, tags = None, **kwargs):
    """An SBOM of an image, and the artifact that attaches it to the image.

    One action reads the layers the image's own rules built (a pulled base is
    named by its registry, repository and digest, and never downloaded) and
    lists:

    - the modules of Go binaries (`debug/buildinfo`), and the Go standard library;
    - Debian packages (`var/lib/dpkg/status`, distroless's `status.d/`);
    - Python distributions (`*.dist-info/METADATA`, `*.egg-info/PKG-INFO`);
    - every file, with its SHA-1 and SHA-256.

    Each package has its version and a purl. The document is reproducible: its
    time is the image's `created`, its namespace derives from the image digest.
    Manifests still never read layer bytes: the SBOM is an action of its own.

    Targets:

    - `NAME`: an `image_manifest` with `subject = image`, an OCI 1.1 artifact
      whose one layer is the document. Put it in the image's `image_push`
      `referrers`: it is pushed beside the image and listed among its referrers.
    - `NAME.spdx.json` or `NAME.cdx.json`: the document itself.

    ```python
    image_sbom(name = "sbom", image = ":image")                          # SPDX 2.3
    image_sbom(name = "sbom_cdx", image = ":image", format = "cyclonedx")  # CycloneDX 1.6

    image_push(name = "push", image = ":image", referrers = [":sbom", ":sbom_cdx"], ...)
    ```

    Args:
        name: name of the artifact target.
        image: an image_manifest or image_index.
        format: "spdx" (SPDX 2.3 JSON) or "cyclonedx" (CycloneDX 1.6 JSON).
        visibility: of the targets.
        tags: of the targets.
        **kwargs: more attributes of the artifact's image_manifest (annotations, ...).
    """
    if format not in _FORMATS:
        fail("%s: format %r: use spdx or cyclonedx" % (name, format))
    fmt = _FORMATS[format]
    sbom_document(
        name = name + "_document",
        image = image,
        format = format,
        out = name + fmt.suffix,
        visibility = visibility,
        tags = tags,
    )
    layer_from_file(
        name = name + "_layer",
        src = name + "_document",
        media_type = fmt.media_type,
        base_name_annotations = ["org.opencontainers.image.title"],
        visibility = ["//visibility:private"],
        tags = tags,
    )
    image_manifest(
        name = name,
        artifact_type = fmt.media_type,
        config_media_type = "application/vnd.oci.empty.v1+json",
        layers = [name + "_layer"],
        subject = image,
        visibility = visibility,
        tags = tags,
        **kwargs
    )
