"""Debian packages for base images: deb_package (a .deb as a piece for base_image_layer) and deb_lock (writes a lockfile); the deb module extension is in extensions.bzl."""

load("//img/private:deb_lock.bzl", _deb_lock = "deb_lock")
load("//img/private:deb_package.bzl", _deb_package = "deb_package")

deb_lock = _deb_lock
deb_package = _deb_package
