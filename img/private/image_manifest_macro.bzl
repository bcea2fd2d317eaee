"""The public image_manifest: upstream rules_img's attribute forms over the rule.

Upstream's `platform` is a platform label and its `created` a file label; ours
were strings first. One attribute cannot be both, so this macro tells them apart
and passes each to the rule attribute that holds it.
"""

load(":image_manifest.bzl", _rule = "image_manifest")

def _looks_like_time(value):
    # RFC 3339 starts with a four-digit year and a dash; a label never does.
    return len(value) > 4 and value[:4].isdigit() and value[4] == "-"

def _looks_like_label(value):
    # "os/arch[/variant]" always has a slash and never starts like a label.
    return value.startswith(("//", ":", "@")) or "/" not in value

def image_manifest(name, platform = None, created = None, **kwargs):
    """image_manifest, as upstream rules_img spells it.

    `platform` is a platform label (the image is built for it, through a
    transition) or an "os/arch[/variant]" string. `created` is an RFC 3339
    time or the label of a file holding one. Everything else goes to the rule
    unchanged (see the rule in image_manifest.bzl).

    Args:
        name: the target name.
        platform: a platform label or "os/arch[/variant]".
        created: an RFC 3339 time or a label of a file holding one.
        **kwargs: the rule's attributes, listed under "image_manifest: attributes".
    """
    if type(platform) == "string" and platform and _looks_like_label(platform):
        kwargs["platform_target"] = platform
    elif platform:
        kwargs["platform"] = platform
    if type(created) == "string" and created and not _looks_like_time(created):
        kwargs["created_file"] = created
    elif created:
        kwargs["created"] = created
    _rule(name = name, **kwargs)
