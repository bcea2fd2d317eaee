"""A module in a package whose __init__.py only Bazel's runfiles tree creates."""


def text():
    return "hello from a py_binary"
