"""Checks registry names in analysis, so a typo fails the build, not the push."""

_LOWER = "abcdefghijklmnopqrstuvwxyz0123456789"
_TAG_CHARS = _LOWER + "ABCDEFGHIJKLMNOPQRSTUVWXYZ_.-"

def _has_template(s):
    return "{{" in s

def check_tag(label, tag):
    """Fails unless tag is a valid OCI tag (or a stamp template).

    Args:
        label: the target, for the message.
        tag: the tag.
    """
    if _has_template(tag):
        return
    bad = [c for c in tag.elems() if c not in _TAG_CHARS]
    if not tag or len(tag) > 128 or bad or tag[0] in ".-":
        fail("%s: tag %r is not a valid tag: use up to 128 letters, digits, '_', '.' and '-', not starting with '.' or '-'%s" % (
            label,
            tag,
            " (a tag is only the part after ':'; set the repository separately)" if ":" in tag else "",
        ))

def check_repository(label, repository):
    """Fails unless repository follows the distribution spec's name grammar.

    Args:
        label: the target, for the message.
        repository: the repository, without the registry.
    """
    if _has_template(repository):
        return
    ok = bool(repository)
    for part in repository.split("/"):
        if not part or part[0] not in _LOWER or part[-1] not in _LOWER:
            ok = False
        for c in part.elems():
            if c not in _LOWER + "._-":
                ok = False
    if not ok:
        fail(("%s: repository %r is not a valid name: use lowercase letters, digits and '.', '_' or '-' between them, " +
              "with '/' between path parts, e.g. \"team/app\"") % (label, repository))
