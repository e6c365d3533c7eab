"""Shared test configuration: `--slow` also runs the tests marked slow (real model, browser)."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def pytest_addoption(parser):
    parser.addoption("--slow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--slow"):
        return
    kept, deselected = [], []
    for item in items:
        (deselected if item.get_closest_marker("slow") else kept).append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture(scope="session")
def paper12():
    """A generated 12-page two-column paper with its ground truth (tests/pdf_factory.py)."""
    from tests.pdf_factory import paper

    return paper(pages=12)


@pytest.fixture(scope="session")
def server():
    """The web app, launched once in this process on a free loopback port, model loaded."""
    import socket
    from types import SimpleNamespace

    import app

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    demo = app.serve("127.0.0.1", port, prevent_thread_lock=True, quiet=True)
    try:
        assert app.MODEL.ready.wait(600), "the model did not load at start-up"
        assert app.MODEL.error is None, app.MODEL.error
        yield SimpleNamespace(url=f"http://127.0.0.1:{port}/", app=app)
    finally:
        demo.close()
