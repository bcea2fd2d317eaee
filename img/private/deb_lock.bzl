"""deb_lock: `bazel run` writes the lockfile of a Debian package manifest."""

load(":deploy.bzl", "LAUNCHER_EXEC_GROUPS", "launcher_img", "write_img_script")

def _deb_lock_impl(ctx):
    img = launcher_img(ctx)
    script = write_img_script(ctx, img, 'deb lock --manifest "$root/%s" --out "${BUILD_WORKSPACE_DIRECTORY:?run this with bazel run}/%s"' % (
        ctx.file.manifest.short_path,
        ctx.attr.lock_path,
    ))
    return [DefaultInfo(executable = script, runfiles = ctx.runfiles([img, ctx.file.manifest]))]

deb_lock = rule(
    implementation = _deb_lock_impl,
    doc = """`bazel run` it to resolve a package manifest and write its lockfile.

The manifest (JSON) names sources, architectures and packages:
```
{
  "sources": [{"url": "https://deb.example/debian", "suite": "bookworm", "components": ["main"]}],
  "architectures": ["amd64", "arm64"],
  "packages": ["base-files", "ca-certificates", "libc6", "libssl3 (>= 3.0)"]
}
```
A suite ending in "/" is a flat repository (`Packages` under url/suite), as in
apt's `deb URL ./`. Depends and Pre-Depends are followed (not Recommends),
virtual packages go to their provider of highest priority, and every package is
pinned by URL and sha256 for each architecture. The `deb` extension makes this
target as @NAME//:lock.""",
    attrs = {
        "manifest": attr.label(doc = "The manifest JSON.", allow_single_file = [".json"], mandatory = True),
        "lock_path": attr.string(doc = "The lockfile's path from the workspace root.", mandatory = True),
    },
    executable = True,
    exec_groups = LAUNCHER_EXEC_GROUPS,
)
