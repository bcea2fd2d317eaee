"""img_tool: the module extension that provides the img tool, prebuilt or from source."""

load(":tool_repos.bzl", "PLATFORMS", "binary_name", "host_key", "img_tool_download", "img_tool_source", "img_toolchains_hub")

_release = tag_class(
    doc = "Written by tools/release.sh into rules_img's own MODULE.bazel; other modules' release tags are ignored.",
    attrs = {
        "version": attr.string(mandatory = True),
        "url_base": attr.string(doc = "Where the release's binaries are, img-VERSION-OS-ARCH under it."),
        "sha256": attr.string_dict(doc = "Platform key (linux_amd64, ...) -> sha256 of that binary."),
    },
)

_download = tag_class(
    doc = """Where to download the prebuilt img from (root module only). For a mirror or
an air-gapped copy of a release's files: the binaries are fetched as
URL_BASE/img-VERSION-OS-ARCH and still checked against the release's checksums.""",
    attrs = {
        "url_base": attr.string(mandatory = True, doc = "e.g. https://mirror.example/rules_img/v1.2.3 or file:///srv/rules_img/v1.2.3"),
    },
)

_source = tag_class(
    doc = """Build img from rules_img's sources with the Go of the machine Bazel runs on
(Go 1.24 or newer, on PATH or at $GOROOT/bin/go), instead of downloading it
(root module only). For audits and for platforms without a prebuilt binary.
Images are byte-identical whichever img built them.""",
    attrs = {},
)

def _img_tool_impl(mctx):
    release = None
    url_base = ""
    source = False
    for module in mctx.modules:
        if module.name == "rules_img":
            for tag in module.tags.release:
                release = tag
        if not module.is_root:
            continue
        for tag in module.tags.download:
            url_base = tag.url_base
        if module.tags.source:
            source = True

    # A checkout that is not a release has no binaries: it builds from source.
    binaries = release.sha256 if release else {}
    host = host_key(mctx.os.name, mctx.os.arch)
    if source or not binaries:
        img_tool_source(name = "rules_img_host_tool")
        img_toolchains_hub(name = "rules_img_toolchains", toolchains = {"host": "rules_img_host_tool"})
        return mctx.extension_metadata(reproducible = True)

    base = (url_base or release.url_base).rstrip("/")
    toolchains = {}
    for key, sha256 in binaries.items():
        if key not in PLATFORMS:
            fail("rules_img %s: img_tool.release names an unknown platform %r; known: %s" % (release.version, key, ", ".join(sorted(PLATFORMS))))
        repo = "rules_img_tool_" + key
        img_tool_download(
            name = repo,
            url = "%s/%s" % (base, binary_name(release.version, key)),
            sha256 = sha256,
            version = release.version,
        )
        toolchains[key] = repo

    # Repository rules (pull) run img on the host before any action exists.
    if host in binaries:
        img_tool_download(
            name = "rules_img_host_tool",
            url = "%s/%s" % (base, binary_name(release.version, host)),
            sha256 = binaries[host],
            version = release.version,
        )
    else:
        img_tool_source(name = "rules_img_host_tool")
        toolchains["host"] = "rules_img_host_tool"
    img_toolchains_hub(name = "rules_img_toolchains", toolchains = toolchains)
    return mctx.extension_metadata(reproducible = True)

img_tool = module_extension(
    implementation = _img_tool_impl,
    doc = """Provides img, the one tool behind rules_img's actions, `bazel run` targets and
repository rules: by default the release's prebuilt binary for each execution
platform, checked against the checksums the release recorded.

```starlark
img_tool = use_extension("@rules_img//img:extensions.bzl", "img_tool")
img_tool.download(url_base = "https://mirror.example/rules_img/v1.2.3")  # a mirror
# or
img_tool.source()  # build img with the Go on this machine
```""",
    tag_classes = {
        "download": _download,
        "release": _release,
        "source": _source,
    },
    os_dependent = True,
    arch_dependent = True,
)
