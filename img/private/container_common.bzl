"""What the rules_docker door's macros share: attribute checks and value forms."""

# Attributes every Bazel target takes; they go to the public target.
COMMON_ATTRS = [
    "compatible_with",
    "deprecation",
    "exec_compatible_with",
    "features",
    "restricted_to",
    "tags",
    "target_compatible_with",
    "testonly",
    "visibility",
]

# Attributes rules_docker had that name its own tools; they do nothing here.
_TOOL_ATTRS = [
    "build_layer",
    "create_image_config",
    "extract_config",
    "incremental_load_template",
    "sha256",
    "tag_tpl",
    "puller_darwin",
    "puller_linux_amd64",
    "puller_linux_arm64",
    "puller_linux_s390x",
]

def split_attrs(rule, name, kwargs, advice = {}):
    """Returns the common attributes; refuses what rules_img cannot honour.

    Args:
        rule: the rules_docker rule, for messages.
        name: the target.
        kwargs: what the macro did not take by name.
        advice: attribute -> what to do instead.

    Returns:
        dict of common attributes.
    """
    common = {}
    for key, value in kwargs.items():
        if key in COMMON_ATTRS:
            common[key] = value
        elif key in advice:
            fail("%s %s: %s is not supported by rules_img's rules_docker door: %s" % (rule, name, key, advice[key]))
        elif key in _TOOL_ATTRS:
            fail("%s %s: %s named one of rules_docker's own tools; rules_img has its own: remove it" % (rule, name, key))
        else:
            fail("%s %s: %s is not an attribute of rules_docker's %s; remove it" % (rule, name, key, rule))
    return common

def hidden(common):
    """Attributes of a helper target: private, manual, the same testonly.

    Args:
        common: the public target's common attributes.

    Returns:
        dict.
    """
    attrs = {k: v for k, v in common.items() if k not in ("visibility", "tags", "deprecation")}
    attrs["tags"] = ["manual"]
    attrs["visibility"] = ["//visibility:private"]
    return attrs

def command(value):
    """rules_docker's cmd or entrypoint: a string is the shell form.

    Args:
        value: None (inherit), a string, or a list.

    Returns:
        None or a list.
    """
    if value == None:
        return None
    if type(value) == "string":
        return ["/bin/sh", "-c", value] if value else []
    return value

def stamp_value(rule, name, stamp):
    """rules_docker's stamp (a bool or one of its stamp labels) as rules_img's.

    Args:
        rule: for messages.
        name: for messages.
        stamp: the value.

    Returns:
        "auto", "force" or "disabled".
    """
    if stamp == None:
        return "auto"
    if stamp == True or (type(stamp) == "string" and stamp.endswith(":always")):
        return "force"
    if stamp == False or (type(stamp) == "string" and stamp.endswith(":never")):
        return "disabled"
    if type(stamp) == "string" and stamp.endswith(":use_stamp_flag"):
        return "auto"
    fail("%s %s: stamp = %r: use True, False or rules_docker's //stamp:always, :never or :use_stamp_flag" % (rule, name, stamp))
