"""The page's /clean outputs as gradio_client hands them back, for the API tests and the
benchmarks that drive the page (bench/load.py, bench/zerogpu_check.py).

    out = named(job.outputs()[-1])     # {"document": ..., "progress": ..., ...}
    rows(out["table"])                 # the chunk table's rows

It only reads values; it starts nothing and asserts nothing.
"""

from __future__ import annotations

# The /clean endpoint's outputs, in the order app.py wires them.
OUTPUTS = ("document", "progress", "cleaned", "table", "picker", "raw", "files")


def named(values) -> dict:
    return dict(zip(OUTPUTS, values))


def rows(table) -> list[list]:
    """The chunk table's rows, whatever wrapper the client hands back."""
    if isinstance(table, dict):
        table = table.get("value", table)
        if isinstance(table, dict):
            table = table.get("data", [])
    return table or []
