"""An Encord-compatible server: the v1 envelope and v2 REST APIs with real state and real signature checks."""

from .server import create_app, serve

__all__ = ["create_app", "serve"]
