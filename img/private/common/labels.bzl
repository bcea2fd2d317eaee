"""How labels appear in messages and in image metadata."""

def display_label(label):
    """Formats a label for messages and image metadata.

    Args:
        label: a Label.

    Returns:
        "//pkg:name" for the main repository, "@repo//pkg:name" otherwise.
    """
    s = str(label)
    if s.startswith("@@//"):
        return s[2:]
    return s
