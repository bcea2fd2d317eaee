"""image_provenance: an in-toto SLSA provenance statement about an image, as a referrer of the image."""

load(":common/labels.bzl", "display_label")
load(":common/referrer_document.bzl", "image_parts", "pulled_bases", "referrer_artifact")
load(":providers/providers.bzl", "ImageIndexInfo", "ImageManifestInfo")
load(":stamp.bzl", "STAMP_ATTRS", "stamping", "template_vars")
load(":toolchain.bzl", "img_args", "img_tool")

def _platform(p):
    return "/".join([p["os"], p["architecture"]] + ([p["variant"]] if p.get("variant") else []))

def _provenance_statement_impl(ctx):
    target = ctx.attr.image
    descriptor, manifests = image_parts(target)
    spec = {
        "target": display_label(target.label),
        "descriptor": descriptor.path,
        "platforms": [_platform(m.platform) for m in manifests],
        "bases": pulled_bases(manifests),
        "builder_id": ctx.attr.builder_id,
        "source_uri": ctx.attr.source_uri,
        "source_revision": ctx.attr.source_revision,
        "vars": template_vars(ctx),
    }
    inputs = [descriptor]
    if stamping(ctx):
        spec["status"] = [ctx.info_file.path, ctx.version_file.path]
        inputs += [ctx.info_file, ctx.version_file]
    spec_file = ctx.actions.declare_file(ctx.label.name + ".provenance_spec.json")
    ctx.actions.write(spec_file, json.encode(spec))
    out = ctx.outputs.out
    args = img_args(ctx)
    args.add("provenance")
    args.add("--spec", spec_file)
    args.add("--out", out)
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = [spec_file] + inputs,
        outputs = [out],
        mnemonic = "ImageProvenance",
        progress_message = "Writing the provenance of %s" % display_label(target.label),
    )
    return [DefaultInfo(files = depset([out]))]

provenance_statement = rule(
    implementation = _provenance_statement_impl,
    doc = "The provenance statement of an image (image_provenance's first target).",
    attrs = dict({
        "image": attr.label(mandatory = True, providers = [[ImageManifestInfo], [ImageIndexInfo]]),
        "builder_id": attr.string(mandatory = True),
        "source_uri": attr.string(),
        "source_revision": attr.string(),
        "out": attr.output(mandatory = True, doc = "The statement."),
    }, **STAMP_ATTRS),
    toolchains = ["//img:toolchain_type"],
)

def image_provenance(
        name,
        image,
        builder_id = "https://bazel.build",
        source_uri = "",
        source_revision = "",
        stamp = "auto",
        build_settings = {},
        visibility = None,
        tags = None,
        **kwargs):
    """An in-toto SLSA provenance v1 statement about an image, and the artifact that attaches it.

    The statement names the image by its digest, the build (`buildType`
    `https://github.com/rules-img/rules_img/provenance/bazel/v1`, the target and
    its platforms), what it was built from (the source revision, pulled base
    images by digest) and by what (`builder_id`, the img version). Templates in
    `builder_id`, `source_uri` and `source_revision` are filled from
    `build_settings` and, when stamping, the workspace status; unstamped, a value
    still holding a template is left out, so an unstamped build writes the same
    statement everywhere, and a stamped one adds `startedOn`.

    Targets:

    - `NAME`: an `image_manifest` with `subject = image` whose one layer is the
      statement (`application/vnd.in-toto+json`). Put it in the image's
      `image_push` `referrers`; with a signing_config whose targets include
      "attestations", the cosign plugin also signs it as an attestation
      (`cosign verify-attestation --type slsaprovenance1`).
    - `NAME.intoto.json`: the statement.

    ```python
    image_provenance(
        name = "provenance",
        image = ":image",
        builder_id = "https://ci.example.com/builders/{{.BUILD_HOST}}",
        source_uri = "git+https://example.com/team/app",
        source_revision = "{{.STABLE_GIT_COMMIT}}",
    )
    ```

    Args:
        name: name of the artifact target.
        image: an image_manifest or image_index.
        builder_id: URI of the builder (SLSA runDetails.builder.id); may hold templates.
        source_uri: where the source is, e.g. git+https://example.com/team/app; may hold templates.
        source_revision: the source's commit, e.g. {{.STABLE_GIT_COMMIT}}.
        stamp: "auto", "force" or "disabled", as image_push's.
        build_settings: template variables from build settings, as image_push's.
        visibility: of the targets.
        tags: of the targets.
        **kwargs: more attributes of the artifact's image_manifest.
    """
    provenance_statement(
        name = name + "_document",
        image = image,
        builder_id = builder_id,
        source_uri = source_uri,
        source_revision = source_revision,
        stamp = stamp,
        build_settings = build_settings,
        out = name + ".intoto.json",
        visibility = visibility,
        tags = tags,
    )
    referrer_artifact(name, name + "_document", "application/vnd.in-toto+json", image, visibility, tags, **kwargs)
