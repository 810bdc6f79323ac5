"""Errors of caller administration, one class per answer an admin API gives (not found, conflict, invalid)."""

from __future__ import annotations


class AccessError(ValueError):
    """A caller, token or certificate mapping request cannot be carried out; the message holds no secret."""


class NotFoundError(AccessError):
    """The named caller, token or certificate identity does not exist."""


class AlreadyExistsError(AccessError):
    """The caller, token or certificate identity already exists, or already belongs to someone else."""
