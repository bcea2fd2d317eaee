"""image_push_spec: where and how to push, for images to carry (push_specs)."""

load(":providers/providers.bzl", "DeploySpecInfo")
load(":push_common.bzl", "PUSH_ATTRS", "push_settings")

def _image_push_spec_impl(ctx):
    return [DeploySpecInfo(label = ctx.label, settings = push_settings(ctx))]

image_push_spec = rule(
    implementation = _image_push_spec_impl,
    doc = """A push without its image: image_manifest, image_index and
image_from_binary take it in `push_specs`, and multi_deploy then takes the
image itself among its operations, as upstream rules_img's does.

Its templates are filled for each image that carries it, with
{{.image_target_name}} and {{.image_target_package}} naming that image's
target, so one spec serves many images:

```python
image_push_spec(
    name = "to_registry",
    registry = "ghcr.io",
    repository = "team/{{.image_target_name}}",
    tag = "latest",
)

image_manifest(name = "frontend", ..., push_specs = [":to_registry"])
image_manifest(name = "backend", ..., push_specs = [":to_registry"])

multi_deploy(name = "release", operations = [":frontend", ":backend"])
```""",
    attrs = PUSH_ATTRS,
)
