"""What the rules_oci door's macros share: common attributes, value forms, refusals."""

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

def common_attrs(rule, name, kwargs, advice = {}):
    """Splits off the common attributes and refuses any other leftover.

    Args:
        rule: the rules_oci rule's name, for messages.
        name: the target's name.
        kwargs: what the macro did not take by name.
        advice: attribute -> what to use instead, for attributes of rules_oci
            (or of earlier versions) that are not honoured here.

    Returns:
        dict of the common attributes given.
    """
    common = {}
    for key, value in kwargs.items():
        if key in COMMON_ATTRS:
            common[key] = value
        elif key in advice:
            fail("%s %s: %s is not supported by rules_img's rules_oci door: %s" % (rule, name, key, advice[key]))
        else:
            fail("%s %s: %s is not an attribute of rules_oci 2.x's %s; remove it" % (rule, name, key, rule))
    return common

def helper_attrs(common):
    """The attributes of a hidden helper target: private, manual, same testonly.

    Args:
        common: the public target's common attributes.

    Returns:
        dict.
    """
    attrs = {k: v for k, v in common.items() if k not in ("visibility", "tags", "deprecation")}
    attrs["tags"] = ["manual"]
    attrs["visibility"] = ["//visibility:private"]
    return attrs

def is_file_value(value):
    """Whether a rules_oci value is given as a file label rather than a list or dict.

    Args:
        value: the attribute's value.

    Returns:
        bool.
    """
    return type(value) == "string"
