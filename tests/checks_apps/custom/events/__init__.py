"""A package of receiver modules, never imported: W001 reads inside it without
importing it.
"""

from __future__ import annotations

raise AssertionError("tests must never import this package")
