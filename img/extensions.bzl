"""Module extensions: images (base images pulled once per digest), deb (Debian packages from a lockfile), img_tool (the prebuilt or source-built img) and rules_pkg_providers (layer_from_pkg without a rules_pkg dependency)."""

load("//img/private:deb_extension.bzl", _deb = "deb")
load("//img/private:images_extension.bzl", _images = "images")
load("//img/private:providers/pkg_providers.bzl", _rules_pkg_providers = "rules_pkg_providers")
load("//img/private:tool_extension.bzl", _img_tool = "img_tool")

deb = _deb
images = _images
img_tool = _img_tool
rules_pkg_providers = _rules_pkg_providers
