"""Encord Gateway: typed gRPC/REST access to Encord with centrally held credentials."""

__version__ = "0.1.0"
