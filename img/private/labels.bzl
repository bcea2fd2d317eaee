"""How labels appear in messages and in image metadata."""

def display_label(label):
    """Returns "//pkg:name" for the main repository, "@repo//pkg:name" otherwise."""
    s = str(label)
    if s.startswith("@@//"):
        return s[2:]
    return s
