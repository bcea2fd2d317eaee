"""image_structure_test: container-structure-test configs, run without a container runtime."""

load(":common/labels.bzl", "display_label")
load(":deploy.bzl", "image_spec", "write_img_script")
load(":providers/providers.bzl", "ImageIndexInfo", "ImageManifestInfo")
load(":toolchain.bzl", "img_tool")

def _impl(ctx):
    img = img_tool(ctx).executable
    label = display_label(ctx.label)
    image = ctx.attr.image
    if ImageManifestInfo in image or ImageIndexInfo in image:
        spec, files, _ = image_spec(ctx, image, with_blobs = True)
        spec_file = ctx.actions.declare_file(ctx.label.name + ".image.json")
        ctx.actions.write(spec_file, json.encode(spec))
        files = files + [spec_file]
        source = "--image \"$root/%s\"" % spec_file.short_path
    else:
        dirs = [f for f in ctx.files.image if f.is_directory]
        if len(dirs) != 1 or len(ctx.files.image) != 1:
            fail("%s: image must be an image_manifest, an image_index, or one OCI layout directory; %s is none of them" % (label, image.label))
        files = dirs
        source = "--layout \"$root/%s\"" % dirs[0].short_path
    launcher = write_img_script(ctx, img, "structure-test --target \"%s\" --root \"$root\" %s %s" % (
        label,
        source,
        " ".join(["--config \"$root/%s\"" % c.short_path for c in ctx.files.configs]),
    ))
    return [DefaultInfo(
        executable = launcher,
        runfiles = ctx.runfiles(files = [img] + files + ctx.files.configs),
    )]

image_structure_test = rule(
    implementation = _impl,
    test = True,
    doc = """Runs container-structure-test config files (YAML or JSON) against an image, without a container runtime.

Supported: `metadataTest` (envVars or env, labels, entrypoint, cmd, exposedPorts,
unexposedPorts, volumes, workdir, user), `fileExistenceTests` (path,
shouldExist, permissions, uid, gid, isExecutableBy) and `fileContentTests`
(expectedContents and excludedContents regular expressions). File tests read
the layers from the top down and stop at the first layer that settles every
path, honouring whiteouts and symlinked parent directories. `commandTests` and
`licenseTests` need a container and fail, naming the test. An index is tested
on every platform.""",
    attrs = {
        "image": attr.label(
            doc = "An image_manifest, an image_index (every platform is tested), a pull, or an OCI layout directory.",
            mandatory = True,
            allow_files = True,
        ),
        "configs": attr.label_list(
            doc = "container-structure-test config files, YAML or JSON.",
            allow_files = [".yaml", ".yml", ".json"],
            mandatory = True,
        ),
    },
    # A test runs on its execution platform, which is the one the img
    # toolchain is resolved for.
    toolchains = ["//img:toolchain_type"],
)
