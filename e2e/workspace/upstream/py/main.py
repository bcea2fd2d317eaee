"""Prints where it runs from and what its library says, to prove the image's runfiles work."""

from upstream.py.lib import greeting

print("python says:", greeting.text())
