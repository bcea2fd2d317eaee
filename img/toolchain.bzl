"""img_toolchain: declare an img binary of your own (built by your rules, or a vetted copy) as the img toolchain.

```starlark
load("@rules_img//img:toolchain.bzl", "img_toolchain")

img_toolchain(name = "my_img", img = "//third_party/img")

toolchain(
    name = "my_img_toolchain",
    exec_compatible_with = ["@platforms//os:linux", "@platforms//cpu:x86_64"],
    toolchain = ":my_img",
    toolchain_type = "@rules_img//img:toolchain_type",
)
```

and `register_toolchains("//:my_img_toolchain")` in MODULE.bazel, which wins over
the toolchains rules_img registers.
"""

load("//img/private:toolchain.bzl", _img_toolchain = "img_toolchain")

img_toolchain = _img_toolchain
