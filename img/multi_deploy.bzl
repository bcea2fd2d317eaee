"""multi_deploy: several pushes and loads from one bazel run."""

load("//img/private:multi_deploy.bzl", _multi_deploy = "multi_deploy")

multi_deploy = _multi_deploy
