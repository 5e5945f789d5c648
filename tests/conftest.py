"""Shared test setup: few threads (the machine is shared) and Qt/OpenGL configured before any
QApplication exists (docs/design.md, Qt testing pitfalls)."""
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config):
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:
        pass
    try:
        import PySide6  # noqa: F401
    except ImportError:
        return
    from resvr.viewer.qtsetup import configure_qt

    configure_qt()
