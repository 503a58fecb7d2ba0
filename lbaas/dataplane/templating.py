"""The Jinja environment every renderer of the data plane uses: templates
from `templates/`, undefined names fail loudly, whitespace as written."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


def environment(
    filters: Mapping[str, Callable[..., Any]] | None = None,
    names: Mapping[str, Any] | None = None,
) -> jinja2.Environment:
    """An environment with these filters and global names."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        autoescape=False,  # configuration files, not HTML
    )
    env.filters.update(filters or {})
    env.globals.update(names or {})
    return env
