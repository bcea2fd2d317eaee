"""signing_config: how `img deploy` signs what it pushes."""

load(":common/labels.bzl", "display_label")
load(":providers/providers.bzl", "SigningConfigInfo")

_TARGETS = ["roots", "child_manifests", "referrers", "attestations"]

def _signing_config_impl(ctx):
    label = display_label(ctx.label)
    if bool(ctx.attr.tool) == bool(ctx.attr.tool_command):
        fail("%s: set exactly one of tool (a Bazel-built plugin, e.g. @rules_img//img/signer:cosign) and tool_command (a plugin on PATH)" % label)
    if not ctx.attr.targets:
        fail("%s: targets is empty: name what to sign, e.g. [\"roots\"]" % label)
    for t in ctx.attr.targets:
        if t not in _TARGETS:
            fail("%s: targets: %r is not one of %s" % (label, t, ", ".join(_TARGETS)))
    tool = ctx.executable.tool if ctx.attr.tool else None
    runfiles = ctx.runfiles(files = [tool] if tool else [])
    if ctx.attr.tool:
        runfiles = runfiles.merge(ctx.attr.tool[DefaultInfo].default_runfiles)
    return [SigningConfigInfo(
        label = ctx.label,
        tool = tool,
        runfiles = runfiles,
        command = ctx.attr.tool_command,
        args = ctx.attr.args,
        env = ctx.attr.env,
        targets = ctx.attr.targets,
    )]

signing_config = rule(
    implementation = _signing_config_impl,
    doc = """How `img deploy` signs the images it pushes, through a signer plugin.

After a push has written the image (and its referrers) and before it writes any
tag, `img deploy` runs `TOOL sign-oci-artifact ARGS...` once per descriptor to
sign, with the descriptor as JSON on stdin (its `data` holds the manifest's
bytes). The plugin answers with the signature artifact as an OCI image layout
tar on stdout, and `img` pushes it into the image's repository as a referrer.
`img` holds no key and does no cryptography: keys, passwords and tokens reach
the plugin from the environment of `bazel run` (e.g. `$COSIGN_PASSWORD`), never
through Bazel, so they are in no action, cache or output.

rules_img has two plugins: `@rules_img//img/signer:cosign` (Sigstore bundles,
`cosign verify` reads them) and `@rules_img//img/signer:notation` (Notary
Project signatures, `notation verify` reads them). Each runs the ecosystem's own
CLI for the signature.

```python
signing_config(
    name = "release",
    tool = "@rules_img//img/signer:cosign",
    args = ["--key=/etc/keys/cosign.key", "--tlog-upload=false"],
)
```

Use it with `--@rules_img//img/settings:sign=enabled
--@rules_img//img/settings:sign_setting=//:release`, or per push with the
`sign` and `sign_setting` attributes.""",
    attrs = {
        "tool": attr.label(
            doc = "A Bazel-built plugin (an executable), shipped in the push's runfiles. Excludes tool_command.",
            executable = True,
            cfg = "target",
        ),
        "tool_command": attr.string(
            doc = "A plugin installed on the machine that runs `bazel run`: a name looked up on PATH, or a path. Excludes tool.",
        ),
        "args": attr.string_list(doc = "Arguments after sign-oci-artifact, e.g. the key's path or name."),
        "env": attr.string_dict(
            doc = "Environment variables for the plugin, besides those of `bazel run`. Not for secrets: they would " +
                  "be written into the push's runfiles.",
        ),
        "targets": attr.string_list(
            doc = "What gets a signature: \"roots\" (the pushed image or index), \"child_manifests\" (each manifest " +
                  "of an index), \"referrers\" (each pushed referrer, such as an SBOM), \"attestations\" (each SBOM " +
                  "or in-toto statement among the referrers becomes a signed in-toto attestation about its subject, " +
                  "which `cosign verify-attestation` reads; the plugin is run as `TOOL attest-oci-artifact ARGS... " +
                  "--predicate-type TYPE --predicate FILE`, and only the cosign plugin answers it).",
            default = ["roots"],
        ),
    },
)

def _no_signing_config_impl(_ctx):
    return [SigningConfigInfo(label = None, tool = None, runfiles = None, command = "", args = [], env = {}, targets = [])]

# The default of //img/settings:sign_setting: no signer chosen.
no_signing_config = rule(
    implementation = _no_signing_config_impl,
    doc = "No signing_config: the default of //img/settings:sign_setting.",
)
