"""container_load: rules_docker's container_load, a `docker save` tarball as @NAME//image."""

def _impl(rctx):
    rctx.extract(rctx.attr.file, output = "image/save")
    entries = json.decode(rctx.read("image/save/manifest.json"))
    if len(entries) != 1:
        fail("container_load %s: %s holds %d images; container_load takes a tarball of one (docker save IMAGE)" % (rctx.name, rctx.attr.file, len(entries)))
    entry = entries[0]

    # The config under a .json name (image_manifest's config_fragment wants
    # one; new docker-save tarballs name blobs by digest), and its platform.
    config = rctx.read("image/save/" + entry["Config"])
    rctx.file("image/config.json", config)
    parsed = json.decode(config)
    platform = "/".join([parsed.get("os", "linux"), parsed.get("architecture", "amd64")] + ([parsed["variant"]] if parsed.get("variant") else []))
    rctx.file("image/BUILD.bazel", "\n".join([
        "# rules_docker's @NAME//image of %s." % rctx.attr.file,
        'load("%s", "container_import")' % str(Label("//container:container.bzl")),
        "",
        "container_import(",
        '    name = "image",',
        '    config = "config.json",',
        "    platform = %r," % platform,
        "    layers = %r," % ["save/" + layer for layer in entry["Layers"]],
        '    visibility = ["//visibility:public"],',
        ")",
        "",
    ]))

container_load = repository_rule(
    implementation = _impl,
    doc = "rules_docker's container_load: `@NAME//image` is the image in a docker-save tarball.",
    attrs = {
        "file": attr.label(mandatory = True, allow_single_file = True, doc = "A docker-save tarball (plain or compressed) of one image."),
    },
)
