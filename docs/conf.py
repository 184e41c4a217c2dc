"""Sphinx configuration for django-signaltrace."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

project = "django-signaltrace"
author = "django-signaltrace developers"
copyright = "2026, django-signaltrace developers"
release = "0.1.0"

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
]
napoleon_custom_sections = [("Arguments", "params_style")]
autodoc_member_order = "bysource"
autodoc_typehints = "description"
# Show defaults as written (DEFAULTS), not as the repr of a whole Config.
autodoc_preserve_defaults = True
# Types in the description of documented arguments only (no private fields).
autodoc_typehints_description_target = "documented_params"
intersphinx_mapping: dict[str, tuple[str, str | None]] = {}
html_theme = "furo"
html_title = "django-signaltrace"
exclude_patterns = ["_build"]
nitpicky = False
