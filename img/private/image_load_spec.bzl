"""image_load_spec: how to load, for images to carry (load_specs)."""

load(":load_common.bzl", "LOAD_ATTRS", "load_names", "load_settings")
load(":providers/providers.bzl", "DeploySpecInfo")

def _image_load_spec_impl(ctx):
    # An empty repository is filled per image (its package), where the spec is used.
    repository, tags = load_names(ctx, "")
    return [DeploySpecInfo(label = ctx.label, settings = load_settings(ctx, repository, tags))]

image_load_spec = rule(
    implementation = _image_load_spec_impl,
    doc = """A load without its image: image_manifest, image_index and
image_from_binary take it in `load_specs`, and multi_deploy then takes the
image itself among its operations, as upstream rules_img's does. Its
templates are filled per image, with {{.image_target_name}} and
{{.image_target_package}}, e.g. tag = "{{.image_target_package}}/{{.image_target_name}}:dev".""",
    attrs = LOAD_ATTRS,
)
