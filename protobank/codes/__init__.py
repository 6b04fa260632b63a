"""Exact algebraic spherical codes, built with integer arithmetic (no torch).

``catalogue()`` lists every instance (family, parameters, n, N, exact max cosine, source);
``get_code(family, **params)`` picks one; ``code.rows(index)`` builds any of its unit vectors.
"""

from __future__ import annotations

from .catalogue import FAMILY_MODULES, Code, catalogue, family_names, get_code

__all__ = ["FAMILY_MODULES", "Code", "catalogue", "family_names", "get_code"]
