"""How long ``manage.py signaltrace`` takes to print the tree of a 10,000-event trace.

Records a real trace (2,500 top-level sends, each with a receiver making three
nested sends), then times, best of several runs, the steps the command takes
after the traced command ends: ``Trace.to_dict()``, ``filter_trace()`` and
``render_text()`` with colours on, and writing the text out. Target: well
under a second in total.

    python benchmarks/render.py
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from time import perf_counter
from typing import Any

import django
from django.conf import settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

if not settings.configured:
    settings.configure(INSTALLED_APPS=["signaltrace"], USE_TZ=True)
django.setup()

from django.core.management.color import color_style  # noqa: E402
from django.dispatch import Signal  # noqa: E402

import signaltrace  # noqa: E402
from signaltrace.render import filter_trace, render_text  # noqa: E402

ROOTS = 2_500
NESTED = 3
RUNS = 5

order_paid = Signal()
stock_changed = Signal()


def reserve_stock(sender: object, **kwargs: Any) -> str:
    for line in range(NESTED):
        stock_changed.send(sender=sender, sku=f"SKU-{line}", quantity=line + 1)
    return "reserved"


def log_stock(sender: object, **kwargs: Any) -> None:
    pass


def record_trace() -> signaltrace.Trace:
    order_paid.connect(reserve_stock)
    stock_changed.connect(log_stock)
    with signaltrace.capture(max_events=ROOTS * (NESTED + 1)) as trace:
        for number in range(ROOTS):
            order_paid.send(sender=None, order=number, total=f"{number}.00")
    return trace


def best(function: Any) -> tuple[float, Any]:
    timings = []
    result = None
    for _ in range(RUNS):
        started = perf_counter()
        result = function()
        timings.append(perf_counter() - started)
    return min(timings), result


def main() -> None:
    trace = record_trace()
    style = color_style(force_color=True)
    to_dict_time, data = best(trace.to_dict)
    filter_time, filtered = best(
        lambda: filter_trace(data, exclude_signals=["request_started"])
    )
    render_time, text = best(lambda: render_text(filtered, style=style, verbosity=1))
    write_time, _ = best(lambda: io.StringIO().write(text + "\n"))
    total = to_dict_time + filter_time + render_time + write_time
    print(f"events: {len(trace.events)}, tree lines: {text.count(chr(10)) + 1}")
    print(f"to_dict:      {to_dict_time * 1000:8.1f} ms")
    print(f"filter_trace: {filter_time * 1000:8.1f} ms")
    print(f"render_text:  {render_time * 1000:8.1f} ms")
    print(f"write:        {write_time * 1000:8.1f} ms")
    print(f"total:        {total * 1000:8.1f} ms (target: well under 1000 ms)")


if __name__ == "__main__":
    main()
