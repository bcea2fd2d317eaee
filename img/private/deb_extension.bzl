"""The deb module extension: Debian packages from a lockfile, as base image pieces."""

load(":common/labels.bzl", "display_label")

# @platforms cpu constraints by Debian architecture.
_CPUS = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "armhf": "armv7",
    "i386": "x86_32",
    "ppc64el": "ppc64le",
    "riscv64": "riscv64",
    "s390x": "s390x",
}

def _deb_file_impl(rctx):
    attempt = rctx.download(rctx.attr.url, "pkg.deb", sha256 = rctx.attr.sha256, allow_fail = True)
    if not attempt.success:
        rctx.delete("pkg.deb")

        # Tell a replaced file from a failed download where Bazel can (it
        # fetches plain http only with a checksum).
        again = struct(success = False)
        if rctx.attr.url.startswith("https://"):
            again = rctx.download(rctx.attr.url, "unpinned.deb", allow_fail = True)
            rctx.delete("unpinned.deb")
        if again.success:
            fail(("package %s (%s): %s has sha256 %s, but the lockfile pins %s: the archive replaced it. " +
                  "Run `bazel run @%s//:lock` to pin the current version") % (
                rctx.attr.package,
                rctx.attr.architecture,
                rctx.attr.url,
                again.sha256,
                rctx.attr.sha256,
                rctx.attr.hub,
            ))
        fail(("package %s (%s): cannot download %s with the lockfile's sha256 %s. If the archive replaced the " +
              "package, run `bazel run @%s//:lock` to pin the current version; otherwise check the source or a mirror") % (
            rctx.attr.package,
            rctx.attr.architecture,
            rctx.attr.url,
            rctx.attr.sha256,
            rctx.attr.hub,
        ))
    rctx.file("BUILD.bazel", 'exports_files(["pkg.deb"], visibility = ["//visibility:public"])\n')

_deb_file = repository_rule(
    implementation = _deb_file_impl,
    attrs = {
        "url": attr.string(mandatory = True),
        "sha256": attr.string(mandatory = True),
        "package": attr.string(mandatory = True),
        "architecture": attr.string(mandatory = True),
        "hub": attr.string(mandatory = True),
    },
)

def _repo_name(hub, package, arch):
    return "%s__%s__%s" % (hub, package.replace("+", "_plus_"), arch)

_LOAD = """load("@rules_img//img:base_images.bzl", "base_image_layer")
load("@rules_img//img:deb.bzl", "deb_package")
"""

def _deb_hub_impl(rctx):
    packages = json.decode(rctx.attr.packages)
    by_name = {}
    for p in packages:
        by_name.setdefault(p["name"], []).append(p)
    root = ['load("@rules_img//img:deb.bzl", "deb_lock")', ""]

    # A copy: the user's manifest need not be visible to this repository.
    rctx.file("manifest.json", rctx.attr.manifest)
    root.append('deb_lock(\n    name = "lock",\n    manifest = "manifest.json",\n    lock_path = "%s",\n)' % rctx.attr.lock_path)
    for arch, cpu in _CPUS.items():
        root.append('config_setting(\n    name = "%s",\n    constraint_values = ["@platforms//cpu:%s"],\n    visibility = ["//:__subpackages__"],\n)' % (arch, cpu))
    rctx.file("BUILD.bazel", "\n\n".join(root) + "\n")
    for name, builds in by_name.items():
        for p in builds:
            rctx.file("%s/%s/BUILD.bazel" % (name, p["architecture"]), _LOAD + """
# {name} {version} for {arch}, pinned by the lockfile.
deb_package(
    name = "data",
    deb = "@{repo}//:pkg.deb",
    usr_merged = {usr_merged},
    visibility = ["//visibility:public"],
)

base_image_layer(
    name = "layer",
    srcs = [":data"],
    visibility = ["//visibility:public"],
)

alias(
    name = "deb",
    actual = "@{repo}//:pkg.deb",
    visibility = ["//visibility:public"],
)
""".format(
                name = name,
                version = p["version"],
                arch = p["architecture"],
                repo = _repo_name(rctx.attr.hub, name, p["architecture"]),
                usr_merged = rctx.attr.usr_merged,
            ))
        archs = sorted([p["architecture"] for p in builds])
        aliases = []
        for target in ["data", "layer", "deb"]:
            aliases.append("""alias(
    name = "{target}",
    actual = select(
        {{{cases}}},
        no_match_error = "{name} is locked for {archs} only; add the target's architecture to the manifest and run `bazel run @{hub}//:lock`",
    ),
    visibility = ["//visibility:public"],
)""".format(
                target = target,
                cases = ", ".join(['"//:%s": "//%s/%s:%s"' % (a, name, a, target) for a in archs]),
                name = name,
                archs = ", ".join(archs),
                hub = rctx.attr.hub,
            ))
        rctx.file(name + "/BUILD.bazel", "# %s for the target platform's architecture.\n\n" % name + "\n\n".join(aliases) + "\n")

_deb_hub = repository_rule(
    implementation = _deb_hub_impl,
    attrs = {
        "packages": attr.string(mandatory = True),
        "manifest": attr.string(doc = "The manifest's text.", mandatory = True),
        "lock_path": attr.string(mandatory = True),
        "usr_merged": attr.bool(default = True),
        "hub": attr.string(mandatory = True),
    },
)

def _deb_impl(module_ctx):
    for mod in module_ctx.modules:
        for tag in mod.tags.install:
            if tag.lock.workspace_name and not mod.is_root:
                fail("deb.install(%s): the lockfile must be in the root module" % tag.name)
            text = module_ctx.read(tag.lock).strip()
            packages = []
            if text and text != "{}":
                lock = json.decode(text)
                if lock.get("version") != 1:
                    fail("deb.install(%s): %s is not a lockfile of version 1; run `bazel run @%s//:lock`" % (tag.name, display_label(tag.lock), tag.name))
                packages = lock["packages"]
            for p in packages:
                _deb_file(
                    name = _repo_name(tag.name, p["name"], p["architecture"]),
                    url = p["url"],
                    sha256 = p["sha256"],
                    package = p["name"],
                    architecture = p["architecture"],
                    hub = tag.name,
                )
            _deb_hub(
                name = tag.name,
                packages = json.encode(packages),
                manifest = module_ctx.read(tag.manifest),
                lock_path = (tag.lock.package + "/" if tag.lock.package else "") + tag.lock.name,
                usr_merged = tag.usr_merged,
                hub = tag.name,
            )
    return module_ctx.extension_metadata(reproducible = True)

deb = module_extension(
    implementation = _deb_impl,
    doc = """Debian packages pinned by a lockfile, as pieces for base_image_layer.

```
deb = use_extension("@rules_img//img:extensions.bzl", "deb")
deb.install(
    name = "debian",
    manifest = "//:packages.json",
    lock = "//:packages.lock.json",
)
use_repo(deb, "debian")
```
Start the lockfile as `{}` and run `bazel run @debian//:lock` (again whenever
the manifest changes or the archive moves on). Each package then has, in
@debian//NAME/ARCH: `:data`, a deb_package for base_image_layer's srcs (and
trust_store's debs), `:layer`, a layer of the package alone, and `:deb`, the
file; @debian//NAME has the same three for the target platform's
architecture. Packages are downloaded only when a build needs them, and a file
whose sha256 differs from the lockfile's fails the build naming the package.""",
    tag_classes = {
        "install": tag_class(attrs = {
            "name": attr.string(doc = "Name of the repository of packages.", mandatory = True),
            "manifest": attr.label(doc = "The package manifest (JSON; see deb_lock).", mandatory = True),
            "lock": attr.label(doc = "The lockfile; `{}` before the first lock.", mandatory = True),
            "usr_merged": attr.bool(doc = "deb_package's usr_merged for every package.", default = True),
        }),
    },
)
