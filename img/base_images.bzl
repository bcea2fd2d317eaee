"""Bespoke base images: base_image_layer and the pieces it merges (linux_skeleton, etc_passwd with passwd_entry and group_entry, etc_hosts, etc_environment, etc_release, trust_store, system_libraries)."""

load("//img/private:base_image_layer.bzl", _base_image_layer = "base_image_layer")
load("//img/private:etc_environment.bzl", _etc_environment = "etc_environment")
load("//img/private:etc_hosts.bzl", _etc_hosts = "etc_hosts")
load("//img/private:etc_passwd.bzl", _etc_passwd = "etc_passwd", _group_entry = "group_entry", _passwd_entry = "passwd_entry")
load("//img/private:etc_release.bzl", _etc_release = "etc_release")
load("//img/private:linux_skeleton.bzl", _linux_skeleton = "linux_skeleton")
load("//img/private:system_libraries.bzl", _system_libraries = "system_libraries")
load("//img/private:trust_store.bzl", _trust_store = "trust_store")

base_image_layer = _base_image_layer
etc_environment = _etc_environment
etc_hosts = _etc_hosts
etc_passwd = _etc_passwd
etc_release = _etc_release
group_entry = _group_entry
linux_skeleton = _linux_skeleton
passwd_entry = _passwd_entry
system_libraries = _system_libraries
trust_store = _trust_store
