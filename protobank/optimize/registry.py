"""Looking methods up by name: the registry is filled by importing the method modules, which
register themselves with :func:`protobank.optimize.base.register` (kept apart from ``base``,
which every method module imports, so that no module imports its importer)."""

from __future__ import annotations

from ..errors import UnknownMethodError, did_you_mean
from .base import REGISTRY, Method


def _load_all() -> None:
    """Import the method modules so that they register themselves."""
    from . import gaussian, hpn, portfolio, simple  # noqa: F401


def get_method(name: str) -> Method:
    """The registered method ``name``; an :class:`UnknownMethodError` suggests close names."""
    _load_all()
    try:
        return REGISTRY[name]
    except KeyError:
        raise UnknownMethodError(
            f"unknown method {name!r}.{did_you_mean(name, REGISTRY)} "
            f"Available: {', '.join(sorted(REGISTRY))}"
        ) from None


def method_names() -> list[str]:
    """Names of all registered methods, sorted."""
    _load_all()
    return sorted(REGISTRY)
