"""file_metadata: the JSON string image_layer's metadata attributes take."""

def file_metadata(mode = None, uid = None, gid = None, uname = None, gname = None, mtime = None, pax_records = None):
    """Describes the tar header fields of files in a layer.

    Args:
        mode: permission bits as an octal string, e.g. "0755".
        uid: numeric owner.
        gid: numeric group.
        uname: owner name stored in the tar header.
        gname: group name stored in the tar header.
        mtime: modification time, RFC 3339 ("2024-01-01T00:00:00Z") or Unix seconds.
        pax_records: dict of extra PAX header records, e.g. extended attributes.

    Returns:
        A JSON string for image_layer's file_metadata values or default_metadata.
    """
    fields = {
        "mode": mode,
        "uid": uid,
        "gid": gid,
        "uname": uname,
        "gname": gname,
        "mtime": mtime,
        "pax_records": pax_records,
    }
    return json.encode({k: v for k, v in fields.items() if v != None})
