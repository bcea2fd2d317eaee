"""oras_file_layer and oras_layer: layers annotated the way ORAS clients read them."""

load(":image_layer.bzl", "image_layer")
load(":layer_from_file.bzl", "layer_from_file")

_TITLE = "org.opencontainers.image.title"
_UNPACK = "io.deis.oras.content.unpack"
_CONTENT_DIGEST = "io.deis.oras.content.digest"

def oras_file_layer(name, src, media_type = None, kind = "file", title = "", annotations = {}, **kwargs):
    """A file as an ORAS layer: `oras pull` writes it under its title.

    With kind = "directory", src is a tar (plain, gzip or zstd) that ORAS
    clients unpack into a directory named by the title; its diffID is the
    io.deis.oras.content.digest they check.

    Args:
        name: the target name.
        src: the file.
        media_type: the blob's media type; default application/vnd.oci.image.layer.v1.tar.
        kind: "file" (the blob as it is) or "directory" (a tar to unpack).
        title: org.opencontainers.image.title; default the file's base name.
        annotations: more annotations on the layer's descriptor.
        **kwargs: common attributes (visibility, tags, ...).
    """
    if kind not in ("file", "directory"):
        fail("oras_file_layer %s: kind %r: use \"file\" or \"directory\"" % (name, kind))
    annotations = dict(annotations)
    base_name = []
    if title:
        annotations[_TITLE] = title
    else:
        base_name = [_TITLE]
    diff_id = []
    if kind == "directory":
        annotations[_UNPACK] = "true"
        diff_id = [_CONTENT_DIGEST]
    layer_from_file(
        name = name,
        src = src,
        media_type = media_type or "application/vnd.oci.image.layer.v1.tar",
        annotations = annotations,
        base_name_annotations = base_name,
        diff_id_annotations = diff_id,
        **kwargs
    )

def _under(directory, paths):
    return {"/%s/%s" % (directory, path.lstrip("/")): value for path, value in paths.items()}

def oras_layer(name, srcs = {}, title = "", annotations = {}, compress = "gzip", create_parent_directories = "enabled", symlinks = {}, file_metadata = {}, **kwargs):
    """Files as an ORAS directory layer: `oras pull` unpacks it into a directory named by the title.

    The tar holds the files under TITLE/, as `oras push DIR` writes it: ORAS
    refuses to unpack entries outside that directory.

    Args:
        name: the target name.
        srcs: image_layer's srcs, with paths inside the directory (-> label).
        title: org.opencontainers.image.title, the directory's name; default name.
        annotations: more annotations on the layer's descriptor.
        compress: as image_layer's; gzip by default, as ORAS writes.
        create_parent_directories: as image_layer's; enabled by default.
        symlinks: as image_layer's, with paths inside the directory.
        file_metadata: as image_layer's, with paths inside the directory.
        **kwargs: image_layer's other attributes.
    """
    title = title or name
    annotations = dict(annotations)
    annotations[_TITLE] = title
    annotations[_UNPACK] = "true"
    image_layer(
        name = name,
        srcs = _under(title, srcs),
        symlinks = _under(title, symlinks),
        file_metadata = _under(title, file_metadata),
        annotations = annotations,
        compress = compress,
        create_parent_directories = create_parent_directories,
        diff_id_annotations = [_CONTENT_DIGEST],
        **kwargs
    )
