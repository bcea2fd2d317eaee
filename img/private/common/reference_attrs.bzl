"""The attributes that name an image in a registry, declared once for every rule, tag class and door that pulls."""

def reference_attrs(registry = "docker_hub", digest = "optional", tag = "informational", with_repository = True):
    """Returns the registry, repository, digest and tag attributes of a pull.

    The forms differ only where the APIs they follow differ; the words are
    the same everywhere.

    Args:
        registry: "docker_hub" (optional, Docker Hub when unset), "mandatory",
            or None for an API that names the registry elsewhere (rules_oci's image).
        digest: "optional", "mandatory", or "unless_unsafe" (required unless
            unsafe_allow_tag_without_digest).
        tag: "informational" (the digest decides), "followed" (followed, with a
            warning, when there is no digest), or "followed_latest" (the same,
            latest by default, as rules_docker).
        with_repository: whether to include repository (False with registry None).

    Returns:
        dict of attributes.
    """
    attrs = {}
    if registry == "docker_hub":
        attrs["registry"] = attr.string(
            default = "index.docker.io",
            doc = "Registry host[:port]; Docker Hub when unset (where a one-part repository means library/NAME).",
        )
    elif registry == "mandatory":
        attrs["registry"] = attr.string(mandatory = True, doc = "Registry host[:port].")
    elif registry != None:
        fail("reference_attrs: registry = %r" % registry)
    if with_repository:
        attrs["repository"] = attr.string(mandatory = True, doc = "Repository, e.g. library/ubuntu.")
    digest_doc = "sha256:... of the index or manifest."
    if digest == "unless_unsafe":
        digest_doc += " Required unless unsafe_allow_tag_without_digest."
    elif digest not in ("optional", "mandatory"):
        fail("reference_attrs: digest = %r" % digest)
    attrs["digest"] = attr.string(mandatory = digest == "mandatory", doc = digest_doc)
    if tag == "informational":
        attrs["tag"] = attr.string(doc = "Tag; informational when digest is set: the digest decides.")
    elif tag in ("followed", "followed_latest"):
        attrs["tag"] = attr.string(
            default = "latest" if tag == "followed_latest" else "",
            doc = "Tag; followed (with a warning) when there is no digest.",
        )
    else:
        fail("reference_attrs: tag = %r" % tag)
    return attrs
