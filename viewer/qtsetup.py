"""Process-wide Qt/OpenGL setup that must happen before the QApplication exists.

Kept free of PyOpenGL and torch imports so tests' ``conftest.py`` and ``app.main`` can call it
cheaply. docs/design.md (Qt testing pitfalls): the default QSurfaceFormat and AA_ShareOpenGLContexts
must be set before the application object is created.
"""
from __future__ import annotations

GL_VERSION = (3, 3)


def preload_native_libs() -> None:
    """Import triton (when installed) before any OpenGL context exists.

    Measured here: once Mesa's llvmpipe driver has loaded its LLVM into the process, importing
    triton (which torch._dynamo does lazily, e.g. via torchvision -> lpips, or torch.compile)
    crashes the process with a segmentation fault, from any thread. Imported first, both coexist.
    """
    import importlib.util

    if importlib.util.find_spec("triton") is not None:
        try:
            import triton  # noqa: F401
        except Exception:  # noqa: BLE001 - a broken triton only matters to torch.compile on CUDA
            pass


def configure_qt() -> None:
    """Default surface format (OpenGL 3.3 core, no depth buffer) and shared GL contexts.

    Also preloads native libraries that clash with the OpenGL driver (:func:`preload_native_libs`).
    """
    preload_native_libs()
    from PySide6.QtCore import QCoreApplication, Qt
    from PySide6.QtGui import QSurfaceFormat

    fmt = QSurfaceFormat()
    fmt.setRenderableType(QSurfaceFormat.RenderableType.OpenGL)
    fmt.setVersion(*GL_VERSION)
    fmt.setProfile(QSurfaceFormat.OpenGLContextProfile.CoreProfile)
    fmt.setDepthBufferSize(0)
    fmt.setStencilBufferSize(0)
    fmt.setSwapInterval(1)
    QSurfaceFormat.setDefaultFormat(fmt)
    if QCoreApplication.instance() is None:
        QCoreApplication.setAttribute(Qt.ApplicationAttribute.AA_ShareOpenGLContexts, True)
