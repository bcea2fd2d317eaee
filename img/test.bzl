"""Tests of images: image_structure_test (container-structure-test configs, without a runtime)."""

load("//img/private:image_structure_test.bzl", _image_structure_test = "image_structure_test")

image_structure_test = _image_structure_test
