"""Prototype methods behind one registry: ``get_method(name).run(d, c, ...)``."""

from .base import Method, MethodResult, get_method, method_names

DEFAULT_METHOD = "minimax"


def _load_all() -> None:
    """Import the method modules so that they register themselves."""
    from . import gaussian, hpn, portfolio, simple  # noqa: F401


__all__ = ["DEFAULT_METHOD", "Method", "MethodResult", "get_method", "method_names"]
