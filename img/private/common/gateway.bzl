"""The registry gateway settings that build actions reaching a registry use."""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")

GATEWAY_ATTRS = {
    "_registry_gateway": attr.label(default = "//img/settings:registry_gateway"),
    "_registry_pull_gateway": attr.label(default = "//img/settings:registry_pull_gateway"),
    "_registry_push_gateway": attr.label(default = "//img/settings:registry_push_gateway"),
}

def _check(label, endpoint):
    if endpoint and not endpoint.startswith(("http://", "https://", "unix:/")) or endpoint.startswith("unix://"):
        fail("%s: registry gateway %r: use http://HOST[:PORT], https://HOST[:PORT] or unix:/ABSOLUTE/PATH" % (label, endpoint))
    return endpoint

def gateway_fields(ctx, label):
    """The spec fields that send a build action's registry requests to a gateway.

    Args:
        ctx: context of a rule with GATEWAY_ATTRS.
        label: the target, for messages.

    Returns:
        dict with registry_pull_gateway and registry_push_gateway, when set.
    """
    both = ctx.attr._registry_gateway[BuildSettingInfo].value
    fields = {}
    for direction in ("pull", "push"):
        endpoint = getattr(ctx.attr, "_registry_%s_gateway" % direction)[BuildSettingInfo].value or both
        if endpoint:
            fields["registry_%s_gateway" % direction] = _check(label, endpoint)
    return fields
