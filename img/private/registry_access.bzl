"""How actions and deploy specs reach a base image's registry."""

def registry_access(docker_config = "", credential_helper = "", insecure = False):
    """The access dict that BaseImageInfo carries: where credentials come from, never credentials.

    Args:
        docker_config: path of a docker config.json, "" for the default.
        credential_helper: NAME of docker-credential-NAME, "" for none.
        insecure: allow plain HTTP and unverified TLS.

    Returns:
        dict with the keys docker_config, credential_helper and insecure.
    """
    return {
        "docker_config": docker_config,
        "credential_helper": credential_helper,
        "insecure": insecure,
    }

def access_flags(access):
    """The img flags (fetch-blob, layout, pull) for an access dict.

    Args:
        access: a dict from registry_access, or None.

    Returns:
        list of string, [] for None.
    """
    if not access:
        return []
    flags = []
    if access["docker_config"]:
        flags += ["--docker-config", access["docker_config"]]
    if access["credential_helper"]:
        flags += ["--credential-helper", access["credential_helper"]]
    if access["insecure"]:
        flags.append("--insecure")
    return flags
