"""What the rules_oci door's macros share: its attribute checks and value forms."""

load("//img:macros.bzl", _derived_attrs = "derived_attrs", _helper_attrs = "helper_attrs", _split_common = "split_common")

helper_attrs = _helper_attrs
derived_attrs = _derived_attrs

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
    return _split_common(rule, name, kwargs, "rules_oci", "rules_oci 2.x's", advice)

def is_file_value(value):
    """Whether a rules_oci value is given as a file label rather than a list or dict.

    Args:
        value: the attribute's value.

    Returns:
        bool.
    """
    return type(value) == "string"
