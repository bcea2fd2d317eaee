"""Analysis tests: upstream rules_img's attribute meanings, as the specs the
rules write for img show them."""

load("@bazel_skylib//lib:unittest.bzl", "analysistest", "asserts")

def _written(env, suffix):
    # The content of the file a FileWrite action of the target writes.
    for action in analysistest.target_actions(env):
        if action.mnemonic == "FileWrite" and action.outputs.to_list()[0].basename.endswith(suffix):
            return json.decode(action.content)
    fail("no FileWrite of *%s" % suffix)

def _config_spec_default_impl(ctx):
    env = analysistest.begin(ctx)
    spec = _written(env, ".config_spec.json")
    for name in ["entrypoint", "cmd", "user", "working_dir", "stop_signal"]:
        asserts.false(env, name in spec, "%s left alone must inherit (absent from the spec): %s" % (name, spec))
    return analysistest.end(env)

config_spec_default_test = analysistest.make(_config_spec_default_impl)

def _config_spec_unset_impl(ctx):
    env = analysistest.begin(ctx)
    spec = _written(env, ".config_spec.json")
    asserts.equals(env, [], spec["entrypoint"], "entrypoint = [] unsets")
    asserts.equals(env, "", spec["user"], "user = \"\" unsets")
    asserts.equals(env, ["<inherit from base>\0", "-v"], spec["cmd"], "INHERIT_FROM_BASE travels to img")
    return analysistest.end(env)

config_spec_unset_test = analysistest.make(_config_spec_unset_impl)

def _created_file_impl(ctx):
    env = analysistest.begin(ctx)
    spec = _written(env, ".config_spec.json")
    asserts.true(env, spec.get("created_file", "").endswith("created.txt"), "created = label: %s" % spec)
    asserts.false(env, "created" in spec)
    return analysistest.end(env)

created_file_test = analysistest.make(_created_file_impl)

def _layer_spec_test(want_parents):
    def impl(ctx):
        env = analysistest.begin(ctx)
        spec = _written(env, ".layer_spec.json")
        asserts.equals(env, want_parents, spec["create_parent_directories"])
        asserts.equals(env, "/app/data.txt", spec["entries"][0]["path"], "a relative srcs key is under the root")
        return analysistest.end(env)

    return impl

layer_parents_default_test = analysistest.make(_layer_spec_test(False))

layer_parents_setting_test = analysistest.make(
    _layer_spec_test(True),
    config_settings = {str(Label("//img/settings:create_parent_directories")): "enabled"},
)

def _push_default_registry_impl(ctx):
    env = analysistest.begin(ctx)
    spec = _written(env, ".deploy.json")
    asserts.equals(env, "registry.example:5000", spec["registry"])
    return analysistest.end(env)

push_default_registry_test = analysistest.make(
    _push_default_registry_impl,
    config_settings = {str(Label("//img/settings:destination_registry")): "registry.example:5000"},
)

def _push_force_stamp_impl(ctx):
    env = analysistest.begin(ctx)
    stamps = [a for a in analysistest.target_actions(env) if a.mnemonic == "ImageStamp"]
    asserts.equals(env, 1, len(stamps), "a templated tag gets an ImageStamp action")
    asserts.true(env, "--status" in stamps[0].argv, "stamp = \"force\" reads the workspace status without --stamp: %s" % stamps[0].argv)
    templates = _written(env, ".stamp_templates.json")
    asserts.equals(
        env,
        {"VERSION": "1.0", "image_target_name": "manifest_default", "image_target_package": "img/private/tests"},
        templates["vars"],
        "build_settings values are template variables, beside the image's target name and package",
    )
    return analysistest.end(env)

push_force_stamp_test = analysistest.make(_push_force_stamp_impl)

def _fake_binary_impl(ctx):
    out = ctx.actions.declare_file(ctx.label.name)
    ctx.actions.write(out, "#!/bin/sh\n", is_executable = True)
    return [DefaultInfo(executable = out, runfiles = ctx.runfiles(files = ctx.files.data))]

# An executable rule: Bazel gives it `args`; `env` is its own attribute.
fake_binary = rule(
    implementation = _fake_binary_impl,
    executable = True,
    attrs = {
        "data": attr.label_list(allow_files = True),
        "env": attr.string_dict(),
    },
)

def _from_binary_impl(ctx):
    env = analysistest.begin(ctx)
    spec = _written(env, ".config_spec.json")
    asserts.equals(env, ["/bin/fake"], spec["entrypoint"], "the binary's path in the image")
    asserts.equals(env, ["--x", "_main/img/private/tests/file.txt"], spec["cmd"], "its args, locations expanded")
    asserts.equals(env, {"A": "from-binary", "B": "from-image"}, spec["env"])
    asserts.equals(env, "/bin/fake.runfiles/_main", spec["working_dir"])
    return analysistest.end(env)

from_binary_test = analysistest.make(_from_binary_impl)

def _import_spec_impl(ctx):
    env = analysistest.begin(ctx)
    spec = _written(env, "_import.json")
    asserts.equals(env, "img/private/tests/layout", spec["layout"], "the directory holding index.json")
    asserts.equals(env, ["linux/amd64", "linux/arm64/v8"], [i["platform"] for i in spec["images"]])
    asserts.equals(env, [["application/vnd.oci.image.layer.v1.tar+zstd", "application/vnd.oci.image.layer.v1.tar"]] * 2, [
        [layer["media_type"] for layer in i["layers"]]
        for i in spec["images"]
    ])
    asserts.true(env, spec["index"].endswith("_index.json"), "an index output")
    return analysistest.end(env)

import_spec_test = analysistest.make(_import_spec_impl)

def _import_bad_media_type_impl(ctx):
    env = analysistest.begin(ctx)
    asserts.expect_failure(env, "layers: unknown layer media type \"application/gzip\"")
    return analysistest.end(env)

import_bad_media_type_test = analysistest.make(_import_bad_media_type_impl, expect_failure = True)
