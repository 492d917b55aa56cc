"""The release this package is: one place, read by ``--version`` and the package."""

VERSION = "0.1.0"
