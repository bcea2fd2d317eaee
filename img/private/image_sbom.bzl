"""image_sbom: an SBOM of an image's own layers, as a referrer of the image."""

load(":common/labels.bzl", "display_label")
load(":common/referrer_document.bzl", "base_manifest", "image_parts", "pulled_bases", "referrer_artifact")
load(":providers/providers.bzl", "ImageIndexInfo", "ImageManifestInfo")
load(":toolchain.bzl", "img_args", "img_tool")

_FORMATS = {
    "spdx": struct(flag = "--spdx", suffix = ".spdx.json", media_type = "application/spdx+json"),
    "cyclonedx": struct(flag = "--cyclonedx", suffix = ".cdx.json", media_type = "application/vnd.cyclonedx+json"),
}

def _sbom_document_impl(ctx):
    target = ctx.attr.image
    descriptor, manifests = image_parts(target)
    inputs = [descriptor]
    spec = {"name": display_label(target.label), "descriptor": descriptor.path, "manifests": [], "bases": pulled_bases(manifests)}
    for m in manifests:
        base = base_manifest(m)
        own = m.layers[len(base.layers):] if base else m.layers
        layers = []
        for layer in own:
            if not layer.blob:
                fail("%s: a layer of %s has no blob to read" % (display_label(ctx.label), display_label(target.label)))
            layers.append({"metadata": layer.metadata.path, "blob": layer.blob.path})
            inputs += [layer.metadata, layer.blob]
        spec["manifests"].append({"config": m.config.path, "layers": layers})
        inputs.append(m.config)
    spec_file = ctx.actions.declare_file(ctx.label.name + ".sbom_spec.json")
    ctx.actions.write(spec_file, json.encode(spec))
    fmt = _FORMATS[ctx.attr.format]
    out = ctx.outputs.out
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
        "out": attr.output(mandatory = True, doc = "The document."),
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
    referrer_artifact(name, name + "_document", fmt.media_type, image, visibility, tags, **kwargs)
