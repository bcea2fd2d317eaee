"""Helpers for macros and module extensions written over rules_img's rules, as its rules_oci and rules_docker doors are: the attributes every target takes, hidden helper targets, and the attributes that name an image in a registry."""

load("//img/private:common/door_attrs.bzl", _COMMON_ATTRS = "COMMON_ATTRS", _derived_attrs = "derived_attrs", _helper_attrs = "helper_attrs", _split_common = "split_common")
load("//img/private:common/reference_attrs.bzl", _reference_attrs = "reference_attrs")

COMMON_ATTRS = _COMMON_ATTRS
split_common = _split_common
helper_attrs = _helper_attrs
derived_attrs = _derived_attrs
reference_attrs = _reference_attrs
