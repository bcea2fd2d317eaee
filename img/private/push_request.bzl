"""The push request of push strategy "bes": what a Build Event Service
backend needs to push an image, in one file it reads from the CAS."""

load(":toolchain.bzl", "img_args", "img_tool")

def push_request(ctx, name, spec, file_fields, image, files):
    """Declares NAME.img_push.json and the action that writes it.

    Args:
        ctx: context of the rule (image_push, an image with push_specs, multi_deploy).
        name: prefix of the declared files' names.
        spec: dict, the deploy spec without its file-naming fields.
        file_fields: dict of spec field -> File (stamped, destination_file, tag_file).
        image: dict, the spec's image part with execution-root paths.
        files: list of Files that part names.

    Returns:
        The push request File.
    """
    exec_spec = dict(spec, image = image)
    for field, f in file_fields.items():
        exec_spec[field] = f.path
    files = files + file_fields.values()
    spec_file = ctx.actions.declare_file(name + ".push_request_spec.json")
    ctx.actions.write(spec_file, json.encode_indent(exec_spec))

    # The name's suffix is how the backend finds it among the build's outputs.
    out = ctx.actions.declare_file(name + ".img_push.json")
    args = img_args(ctx)
    args.add("push-request")
    args.add("--spec", spec_file)
    args.add("--out", out)
    ctx.actions.run(
        executable = img_tool(ctx),
        arguments = [args],
        inputs = [spec_file] + files,
        outputs = [out],
        mnemonic = "ImagePushRequest",
        progress_message = "Writing the push request of %{label}",
        toolchain = "//img:toolchain_type",
    )
    return out
