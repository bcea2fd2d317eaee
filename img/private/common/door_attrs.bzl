"""What the rules_oci and rules_docker doors' macros share: the attributes
every target takes, refusals of the rest, and the attributes of the helper
and derived targets a macro declares."""

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

def split_common(rule, name, kwargs, door, origin, advice = {}, tools = []):
    """Returns the common attributes in kwargs; fails on any other leftover.

    Args:
        rule: the door's rule name, for messages.
        name: the target.
        kwargs: what the macro did not take by name.
        door: "rules_oci" or "rules_docker".
        origin: whose API the rule follows, e.g. "rules_oci 2.x's".
        advice: attribute -> what to do instead, for attributes of that API
            that are not honoured here.
        tools: attributes that named the original ruleset's own tools.

    Returns:
        dict of the common attributes given.
    """
    common = {}
    for key, value in kwargs.items():
        if key in COMMON_ATTRS:
            common[key] = value
        elif key in advice:
            fail("%s %s: %s is not supported by rules_img's %s door: %s" % (rule, name, key, door, advice[key]))
        elif key in tools:
            fail("%s %s: %s named one of %s's own tools; rules_img has its own: remove it" % (rule, name, key, door))
        else:
            fail("%s %s: %s is not an attribute of %s %s; remove it" % (rule, name, key, origin, rule))
    return common

def helper_attrs(common):
    """Attributes of a hidden helper target: private, manual, the same testonly.

    Args:
        common: the public target's common attributes.

    Returns:
        dict.
    """
    attrs = {k: v for k, v in common.items() if k not in ("visibility", "tags", "deprecation")}
    attrs["tags"] = ["manual"]
    attrs["visibility"] = ["//visibility:private"]
    return attrs

def derived_attrs(common):
    """Attributes of a public target derived from the main one (NAME.tar, NAME.digest).

    The deprecation warning stays on the main target alone.

    Args:
        common: the public target's common attributes.

    Returns:
        dict.
    """
    return {k: v for k, v in common.items() if k != "deprecation"}
