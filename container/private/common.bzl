"""What the rules_docker door's macros share: attribute checks and value forms."""

load("//img:load.bzl", "image_load")
load("//img:macros.bzl", "derived_attrs", "split_common")

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
    return split_common(rule, name, kwargs, "rules_docker", "rules_docker's", advice, _TOOL_ATTRS)

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

def loader_targets(name, repository, common):
    """rules_docker's image targets over NAME.manifest: NAME, NAME.tar and NAME.digest.

    NAME is an image_load (`bazel run` loads REPOSITORY:NAME) that also
    stands for the image; NAME.tar is its docker-save tarball.

    Args:
        name: the target.
        repository: the repository the image loads under.
        common: the public target's common attributes.
    """
    image_load(name = name, image = ":" + name + ".manifest", repository = repository, tag = name, **common)
    public = derived_attrs(common)
    native.filegroup(name = name + ".tar", srcs = [":" + name], output_group = "tarball", **public)
    native.filegroup(name = name + ".digest", srcs = [":" + name + ".manifest"], output_group = "digest", **public)
