"""django-debug-toolbar's versions, as the panel's tests see them.

4.4 and 5 keep each request's toolbar object in memory, in the class-level
``DebugToolbar._store``, under the ``store_id`` that ``render_toolbar()``
gives it; with ``RENDER_PANELS`` on they keep nothing. A stored panel is the
live one, reading the live toolbar's ``stats``, and the toolbar's views take
a ``store_id``. 6 and later keep the panels' stats in a store class of the
project's choice (memory, database or cache, ``debug_toolbar.store``) under
the ``request_id`` the toolbar is created with, whatever ``RENDER_PANELS``
says; a stored panel is built from the store (``from_store``), and the views
take a ``request_id``.

This module is the one place the tests tell the lines apart.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from debug_toolbar.toolbar import DebugToolbar
from django.test import Client

try:
    from debug_toolbar.store import get_store
except ImportError:  # before 6
    get_store = None

__all__ = [
    "CACHE_STORE",
    "DATABASE_STORE",
    "HAS_STORES",
    "MEMORY_STORE",
    "STORES",
    "clear_store",
    "history_sidebar",
    "keeps_rendered_requests",
    "needs_stores",
    "render_panel",
    "request_id",
    "store",
    "stored_panel",
    "stored_request_ids",
    "stored_stats",
]

#: Whether the toolbar has store classes of its own (6 and later).
HAS_STORES = get_store is not None

MEMORY_STORE = "debug_toolbar.store.MemoryStore"
DATABASE_STORE = "debug_toolbar.store.DatabaseStore"
CACHE_STORE = "debug_toolbar.store.CacheStore"

#: The stores the toolbar offers. Before 6 there is one, in memory, which
#: ``TOOLBAR_STORE_CLASS`` does not choose (the toolbar ignores the setting):
#: a test parametrized over the stores runs once, named after the memory one.
STORES = [MEMORY_STORE, DATABASE_STORE, CACHE_STORE] if HAS_STORES else [MEMORY_STORE]

#: For a test of a store class other than memory.
needs_stores = pytest.mark.skipif(
    not HAS_STORES, reason="django-debug-toolbar before 6 has no store classes"
)

#: For a test that loads a panel that ``RENDER_PANELS`` rendered into the page.
keeps_rendered_requests = pytest.mark.skipif(
    not HAS_STORES,
    reason="django-debug-toolbar before 6 keeps no request whose panels it "
    "rendered into the page (RENDER_PANELS)",
)

#: The toolbar views' name of the key a request is kept under.
_KEY = "request_id" if HAS_STORES else "store_id"


def request_id(toolbar: DebugToolbar) -> str:
    """The key *toolbar*'s request is kept under; fails when it is kept nowhere."""
    key = toolbar.request_id if HAS_STORES else toolbar.store_id
    assert key is not None, "the toolbar keeps no record of this request"
    return str(key)


def store(toolbar: DebugToolbar) -> None:
    """Keep *toolbar*'s request, as ``render_toolbar()`` does.

    From 6 on the toolbar is in the store from the start: nothing to do.
    """
    if not HAS_STORES:
        toolbar.store()


def stored_panel(request_id: str, panel_id: str) -> Any:
    """The panel as the toolbar loads it when it is opened, from its store."""
    if HAS_STORES:
        toolbar = DebugToolbar.fetch(request_id, panel_id)
    else:
        toolbar = DebugToolbar.fetch(request_id)
    assert toolbar is not None, f"request {request_id} is not in the store"
    panel = toolbar.get_panel_by_id(panel_id)
    if HAS_STORES:
        assert panel.from_store, f"{panel_id} was not loaded from the store"
    return panel


def stored_stats(request_id: str, panel_id: str) -> dict[str, Any]:
    """A copy of what *panel_id* stored for the request, ``{}`` when nothing.

    Before 6 the stats are the live toolbar's; the copy keeps what they are
    now, as a store's read does.
    """
    if HAS_STORES:
        return dict(get_store().panel(request_id, panel_id))
    toolbar = DebugToolbar.fetch(request_id)
    assert toolbar is not None, f"request {request_id} is not in the store"
    return copy.deepcopy(dict(toolbar.stats.get(panel_id, {})))


def stored_request_ids() -> list[str]:
    """The keys of the requests the toolbar keeps, oldest first."""
    if HAS_STORES:
        return [str(key) for key in get_store().request_ids()]
    return list(DebugToolbar._store)


def clear_store() -> None:
    """Forget every request the toolbar keeps."""
    if HAS_STORES:
        get_store().clear()
    else:
        DebugToolbar._store.clear()


def forget(request_id: str) -> None:
    """Forget one request the toolbar keeps."""
    if HAS_STORES:
        get_store().delete(request_id)
    else:
        DebugToolbar._store.pop(request_id, None)


def history_sidebar(client: Client, request_id: str) -> dict[str, Any]:
    """The sidebar the History panel switches to for a kept request, by panel id."""
    response = client.get(
        "/__debug__/history_sidebar/", {_KEY: request_id, "exclude_history": True}
    )
    assert response.status_code == 200, response.content
    sidebar: dict[str, Any] = response.json()
    return sidebar


def render_panel(client: Client, request_id: str, panel_id: str) -> dict[str, Any]:
    """What the toolbar's JavaScript gets when a panel is opened: content, scripts."""
    response = client.get(
        "/__debug__/render_panel/", {_KEY: request_id, "panel_id": panel_id}
    )
    assert response.status_code == 200, response.content
    rendered: dict[str, Any] = response.json()
    return rendered
