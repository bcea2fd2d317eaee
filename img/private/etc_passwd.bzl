"""etc_passwd: /etc/passwd, /etc/group, /etc/shadow and home directories, with passwd_entry and group_entry."""

load(":base_content.bzl", "BASE_CONTENT_ATTRS", "base_content", "check_mode")

def passwd_entry(*, username, uid, gid, gecos = None, home = None, shell = None):
    """One user, for etc_passwd's users.

    Args:
        username: login name.
        uid: numeric user ID.
        gid: numeric ID of the user's primary group.
        gecos: description (the GECOS field).
        home: home directory; default "/", no home.
        shell: login shell; default "/sbin/nologin".

    Returns:
        A JSON string.
    """
    entry = {"username": username, "uid": uid, "gid": gid}
    for key, value in {"gecos": gecos, "home": home, "shell": shell}.items():
        if value != None:
            entry[key] = value
    return json.encode(entry)

def group_entry(*, name, gid, users = None):
    """One group, for etc_passwd's groups.

    Args:
        name: group name.
        gid: numeric group ID.
        users: members besides the users whose primary group it is.

    Returns:
        A JSON string.
    """
    return json.encode({"name": name, "gid": gid, "users": users or []})

def _etc_passwd_impl(ctx):
    srcs = {name: getattr(ctx.files, name) for name in ["passwd_srcs", "group_srcs", "shadow_srcs"]}
    options = {name: [f.path for f in files] for name, files in srcs.items()}
    options.update({
        "users": ctx.attr.users,
        "groups": ctx.attr.groups,
        "create_home_directories": ctx.attr.create_home_directories,
        "home_directory_mode": check_mode(ctx, "home_directory_mode"),
        "mode": check_mode(ctx, "mode"),
        "shadow_mode": check_mode(ctx, "shadow_mode"),
        "passwd_path": ctx.attr.passwd_path,
        "group_path": ctx.attr.group_path,
        "shadow_path": ctx.attr.shadow_path,
        "write_shadow": ctx.attr.write_shadow,
    })
    return base_content(ctx, "passwd", "unix", options, inputs = srcs["passwd_srcs"] + srcs["group_srcs"] + srcs["shadow_srcs"])

etc_passwd = rule(
    implementation = _etc_passwd_impl,
    doc = """Users and groups: /etc/passwd, /etc/group, /etc/shadow and the users' home directories.

A user name, UID, group name or GID given twice is an error. Every shadow
entry is locked (`!*`): a password hash has no place in an image or a build
cache, so the rule takes none. Targeting Windows, it describes nothing.

```
etc_passwd(
    name = "users",
    users = [
        passwd_entry(username = "root", uid = 0, gid = 0, home = "/root", shell = "/bin/sh"),
        passwd_entry(username = "nonroot", uid = 65532, gid = 65532, home = "/home/nonroot"),
    ],
    groups = [group_entry(name = "root", gid = 0), group_entry(name = "nonroot", gid = 65532)],
)
```""",
    attrs = dict(
        BASE_CONTENT_ATTRS,
        users = attr.string_list(doc = "passwd_entry(...) values; {{.KEY}} templates are filled."),
        groups = attr.string_list(doc = "group_entry(...) values; {{.KEY}} templates are filled."),
        passwd_srcs = attr.label_list(doc = "passwd files whose users come first.", allow_files = True),
        group_srcs = attr.label_list(doc = "group files whose groups come first.", allow_files = True),
        shadow_srcs = attr.label_list(
            doc = "shadow files: a user's record found here is kept as it is; the others are locked.",
            allow_files = True,
        ),
        create_home_directories = attr.bool(
            doc = "Create each user's home (owned by the user, home_directory_mode; /root 0700). A home of / is skipped.",
            default = True,
        ),
        home_directory_mode = attr.string(doc = "Octal mode of created homes.", default = "0750"),
        mode = attr.string(doc = "Octal mode of passwd and group; empty is 0644."),
        shadow_mode = attr.string(doc = "Octal mode of shadow; empty is 0640."),
        passwd_path = attr.string(doc = "Image path of the passwd file.", default = "/etc/passwd"),
        group_path = attr.string(doc = "Image path of the group file.", default = "/etc/group"),
        shadow_path = attr.string(doc = "Image path of the shadow file.", default = "/etc/shadow"),
        write_shadow = attr.bool(doc = "Write the shadow file.", default = True),
    ),
    toolchains = ["//img:toolchain_type"],
)
