"""Prototype methods behind one registry: ``get_method(name).run(d, c, ...)``."""

from .base import Method, MethodResult
from .registry import get_method, method_names

DEFAULT_METHOD = "minimax"


__all__ = ["DEFAULT_METHOD", "Method", "MethodResult", "get_method", "method_names"]
