"""The HTTP face of the registry: build it with :func:`create_app`."""

from rights.api.app import create_app

__all__ = ["create_app"]
