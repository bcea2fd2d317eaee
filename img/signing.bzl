"""Signing: signing_config, the signer plugin `img deploy` runs after a push."""

load("//img/private:signing_config.bzl", _signing_config = "signing_config")

signing_config = _signing_config
