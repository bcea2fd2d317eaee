"""Providers that rules_img's rules pass between each other.

They carry small metadata files, not image bytes: an image's manifest is
written from its layers' metadata alone.
"""

LayerInfo = provider(
    doc = "One image layer.",
    fields = {
        "blob": "File: the layer as stored in a registry (a tar, possibly compressed).",
        "metadata": "File: JSON with mediaType, digest (of the blob), size (of the blob), " +
                    "diffID (digest of the uncompressed tar) and annotations.",
        "media_type": "string: the blob's OCI media type, e.g. application/vnd.oci.image.layer.v1.tar+gzip.",
        "compact": "struct(stream, cas: Files) of a compact layer (experimental_compact_layers): blob is then " +
                   "rebuilt from them by a local action, and deploys stream it from them instead. Not every rule " +
                   "sets it: read it with getattr.",
        "ztoc": "File or None: the layer's SOCI ztoc, written with the soci settings' span and minimum size " +
                "(an empty file when the layer gets none). Not every rule sets it: read it with getattr.",
    },
)

LayerGroupInfo = provider(
    doc = "Several layers one target stands for, bottom first: image_manifest's layers takes it " +
          "as it takes LayerInfo (rules_docker's container_layer of files and tars is one).",
    fields = {"layers": "list of LayerInfo."},
)

LayerConfigInfo = provider(
    doc = "Image config a layer brings along, such as layer_from_binary's: image_manifest applies it " +
          "where its own attributes are left at INHERIT_FROM_BASE (env: under its own keys).",
    fields = {
        "entrypoint": "list of string or None.",
        "cmd": "list of string or None.",
        "env": "dict of string to string.",
        "working_dir": "string or None.",
    },
)

ImageManifestInfo = provider(
    doc = "A single-platform image.",
    fields = {
        "manifest": "File: the OCI image manifest JSON.",
        "config": "File: the OCI image config JSON.",
        "descriptor": "File: JSON descriptor of the manifest (mediaType, digest, size, platform).",
        "platform": "dict: the image's platform, keys os, architecture and (when set) variant.",
        "layers": "list of LayerInfo: all layers, the base's first; a shallow base layer has no blob.",
        "base": "BaseImageInfo of the base image, or None for an image from scratch.",
        "oci_layout": "File: a directory holding the image as an OCI image layout.",
        "soci": "struct(manifest, descriptor, config, ztocs: list of File) of the image's SOCI index " +
                "(empty files when no layer got a ztoc), or None. Not every rule sets it: read it with getattr.",
    },
)

ImageIndexInfo = provider(
    doc = "A multi-platform image index.",
    fields = {
        "index": "File: the OCI image index JSON.",
        "descriptor": "File: JSON descriptor of the index (mediaType, digest, size).",
        "manifests": "list of ImageManifestInfo: the images the index lists, in index order.",
        "oci_layout": "File: a directory holding the index and all its images as an OCI image layout.",
    },
)

BaseImageContentInfo = provider(
    doc = "A piece of a bespoke base image (linux_skeleton, etc_passwd, trust_store, ...): " +
          "descriptions of tar entries, which base_image_layer merges into one layer.",
    fields = {
        "descriptions": "depset of File (preorder): JSON descriptions img base wrote, merged in this order.",
        "files": "depset of File: the inputs the descriptions' entries copy (shared libraries).",
    },
)

BaseImageInfo = provider(
    doc = "An image pulled by pull(): what image_manifest(base = ...) builds on.",
    fields = {
        "registry": "string: the registry it was pulled from.",
        "repository": "string: the repository in that registry.",
        "digest": "string: digest of the pulled root (index or manifest).",
        "manifests": "list of struct(platform, manifest, config, layers): one per platform; " +
                     "platform is a dict like ImageManifestInfo.platform, manifest and config are Files, " +
                     "layers a list of LayerInfo whose blob is None when the pull was shallow.",
        "access": "dict: how actions and deploys reach the base's registry: docker_config and " +
                  "credential_helper (strings, \"\" for none) and insecure (bool); never credentials.",
    },
)

DeployInfo = provider(
    doc = "Push or load operations, as multi_deploy collects them: image_push's or image_load's one, or the push_specs and load_specs an image carries.",
    fields = {
        "spec": "File: the deploy spec JSON `img deploy` runs; its paths are relative to the main repository's runfiles directory. None when there are several operations.",
        "operation": "string: \"push\" or \"load\"; None when there are several operations.",
        "operations": "list of struct(name: prefix of its files, spec: File, operation: string, runfiles: runfiles the spec needs, plan: dict multi_deploy rewrites it from).",
    },
)

DeploySpecInfo = provider(
    doc = "An image_push_spec or image_load_spec: a push or load without its image.",
    fields = {
        "label": "Label of the spec target.",
        "settings": "dict: what the spec says, resolved in its configuration (see deploy.bzl's deploy_settings).",
    },
)

StampSettingInfo = provider(
    doc = "Whether the build is stamped (--stamp or //img/settings:stamp).",
    fields = {"value": "bool: stamping is on."},
)

SigningConfigInfo = provider(
    doc = "A signing_config: the signer plugin `img deploy` runs after a push.",
    fields = {
        "label": "Label of the signing_config; None for the unset default of //img/settings:sign_setting.",
        "tool": "File: a Bazel-built plugin, or None.",
        "runfiles": "runfiles the tool needs.",
        "command": "string: a plugin on PATH, or \"\".",
        "args": "list of strings after sign-oci-artifact.",
        "env": "dict of (non-secret) environment variables.",
        "targets": "list: what gets a signature (roots, child_manifests, referrers).",
    },
)

RunfilesGroupInfo = provider(
    doc = "A binary's runfiles in groups, for layer_from_binary to put each in its own layer " +
          "(the shape of rules_runfiles_group's provider, which is not served offline here).",
    fields = {
        "entries": "list of struct(name, content: depset of File or runfiles, kind, rank: int): lower ranks " +
                   "go to lower layers (RUNFILES_GROUP_RANKS).",
        "executable_group": "name of the entry the binary itself joins, or None: then it gets a layer of its own.",
    },
)
