"""Providers of rules_img's rules, for rules of your own that consume images."""

load(
    "//img/private:providers/providers.bzl",
    _BaseImageInfo = "BaseImageInfo",
    _DeployInfo = "DeployInfo",
    _DeploySpecInfo = "DeploySpecInfo",
    _ImageIndexInfo = "ImageIndexInfo",
    _ImageManifestInfo = "ImageManifestInfo",
    _LayerGroupInfo = "LayerGroupInfo",
    _LayerInfo = "LayerInfo",
    _RunfilesGroupInfo = "RunfilesGroupInfo",
)
load("//img/private:runfiles_groups.bzl", _RUNFILES_GROUP_RANKS = "RUNFILES_GROUP_RANKS")

BaseImageInfo = _BaseImageInfo
DeployInfo = _DeployInfo
DeploySpecInfo = _DeploySpecInfo
ImageIndexInfo = _ImageIndexInfo
ImageManifestInfo = _ImageManifestInfo
LayerGroupInfo = _LayerGroupInfo
LayerInfo = _LayerInfo
RunfilesGroupInfo = _RunfilesGroupInfo
RUNFILES_GROUP_RANKS = _RUNFILES_GROUP_RANKS
