"""The panorama pane: a QOpenGLWidget whose fragment shader renders the viewport.

Each fragment's ray follows docs/design.md's convention exactly (see ``_FRAG``): pixel (col j, row i)
has the camera ray ((j+1/2-w/2)/fx, -(i+1/2-h/2)/fy, 1), rotated by pitch about x and then by yaw
about y; lon = atan2(x, z), lat = asin(y/|d|). The LR texture is sampled bilinearly by the GPU
with GL_REPEAT on u (no seam at +-180 degrees) and no mipmaps (no wrong-LOD line along the seam or
at the poles); rows are uploaded with GL_UNPACK_ALIGNMENT 1. Images larger than
GL_MAX_TEXTURE_SIZE are downsampled (area filter) and ``notice`` says so.

An *overlay* (a learned or bicubic render from the render service, or a heat map) is drawn instead
of the live bilinear view while it matches the camera's current view; when the view moves on, the
live shader view shows again at once, so the pane never waits for a slow method.
"""
from __future__ import annotations

import math

import numpy as np
from OpenGL import GL
from PySide6.QtCore import QEvent, QPointF, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtOpenGLWidgets import QOpenGLWidget

from resvr.core.geometry import View
from resvr.core.imageio import to_uint8

from .navigation import ZOOM_STEP, Camera

_VERT = """
#version 330 core
void main() {
    vec2 p = vec2(float((gl_VertexID << 1) & 2), float(gl_VertexID & 2));
    gl_Position = vec4(p * 2.0 - 1.0, 0.0, 1.0);
}
"""

_FRAG = """
#version 330 core
out vec4 frag;
uniform sampler2D u_pano;
uniform sampler2D u_overlay;
uniform int u_mode;        // 0: empty, 1: panorama, 2: overlay image
uniform vec2 u_size;       // framebuffer size in pixels (w, h)
uniform vec2 u_focal;      // (fx, fy)
uniform mat3 u_rot;        // R_yaw * R_pitch
uniform int u_proj;        // 0: rectilinear, 1: stereographic, 2: fisheye (equidistant)
uniform sampler2D u_pano_b;
uniform float u_split;     // wipe: x (pixels from the left) where the right image starts; < 0: off
const float PI = 3.14159265358979323846;
void main() {
    vec2 p = gl_FragCoord.xy;  // (j + 1/2, h - i - 1/2): origin bottom-left, pixel centres at +1/2
    if (u_mode == 0) { frag = vec4(0.11, 0.11, 0.12, 1.0); return; }
    if (u_split >= 0.0 && abs(p.x - u_split) < 1.0) { frag = vec4(1.0); return; }  // the wipe divider
    if (u_mode == 2) {
        ivec2 ts = textureSize(u_overlay, 0);
        if (ts == ivec2(u_size))  // same size: copy texels exactly (row 0 uploaded first = top)
            frag = vec4(texelFetch(u_overlay, ivec2(int(p.x), ts.y - 1 - int(p.y)), 0).rgb, 1.0);
        else                      // a low-resolution preview: upscale bilinearly
            frag = vec4(texture(u_overlay, vec2(p.x / u_size.x, 1.0 - p.y / u_size.y)).rgb, 1.0);
        return;
    }
    // d = ((j+1/2-w/2)/fx, -(i+1/2-h/2)/fy, 1); -(i+1/2-h/2) = p.y - h/2
    vec2 ab = vec2((p.x - 0.5 * u_size.x) / u_focal.x, (p.y - 0.5 * u_size.y) / u_focal.y);
    vec3 d = vec3(ab, 1.0);
    if (u_proj != 0) {  // rho = g(theta): 2 tan(theta/2) (stereographic) or theta (fisheye)
        float rho = length(ab);
        float th = (u_proj == 1) ? 2.0 * atan(0.5 * rho) : rho;
        float k = rho > 1e-12 ? sin(th) / rho : 1.0;
        d = vec3(ab * k, cos(th));
    }
    vec3 r = u_rot * d;
    float lon = atan(r.x, r.z);
    float lat = asin(clamp(r.y / length(r), -1.0, 1.0));
    // u = x/W with x = (lon/2pi + 1/2) W; v = y/H with y = (1/2 - lat/pi) H, row 0 uploaded first.
    vec2 uv = vec2(lon / (2.0 * PI) + 0.5, 0.5 - lat / PI);
    if (u_split >= 0.0 && p.x > u_split)
        frag = vec4(texture(u_pano_b, uv).rgb, 1.0);
    else
        frag = vec4(texture(u_pano, uv).rgb, 1.0);
}
"""


def rotation_matrix(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """R = R_yaw @ R_pitch (camera ray -> world ray), identical to resvr.core.geometry."""
    p, y = math.radians(pitch_deg), math.radians(yaw_deg)
    cp, sp, cy, sy = math.cos(p), math.sin(p), math.cos(y), math.sin(y)
    r_pitch = np.array([[1, 0, 0], [0, cp, sp], [0, -sp, cp]], dtype=np.float64)
    r_yaw = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]], dtype=np.float64)
    return r_yaw @ r_pitch


def qimage_to_rgb(img: QImage) -> np.ndarray:
    """QImage -> (h, w, 3) uint8 RGB copy."""
    img = img.convertToFormat(QImage.Format.Format_RGB888)
    h, w, bpl = img.height(), img.width(), img.bytesPerLine()
    buf = np.frombuffer(img.constBits(), dtype=np.uint8, count=bpl * h).reshape(h, bpl)
    return buf[:, : w * 3].reshape(h, w, 3).copy()


def rgb_to_qimage(arr: np.ndarray) -> QImage:
    """(h, w, 3) uint8 -> QImage (owns a copy of the data)."""
    a = np.ascontiguousarray(arr[..., :3], dtype=np.uint8)
    h, w = a.shape[:2]
    return QImage(a.data, w, h, 3 * w, QImage.Format.Format_RGB888).copy()


def downsample_to(img: np.ndarray, max_w: int, max_h: int) -> np.ndarray:
    """Area-downsample an (H, W, 3) uint8 image to fit max_w x max_h, keeping the aspect."""
    from PIL import Image

    H, W = img.shape[:2]
    s = min(max_w / W, max_h / H, 1.0)
    size = (max(1, int(W * s)), max(1, int(H * s)))
    return np.asarray(Image.fromarray(img).resize(size, Image.Resampling.BOX))


def views_match(a: View | None, b: View | None, tol: float = 1e-6) -> bool:
    """Same direction and fields of view (sizes may differ: a low-res render still matches)."""
    if a is None or b is None:
        return False
    dyaw = (a.yaw - b.yaw + 180.0) % 360.0 - 180.0
    return abs(dyaw) < tol and abs(a.pitch - b.pitch) < tol and abs(a.fov_h - b.fov_h) < tol \
        and abs(a.fov_v - b.fov_v) < tol and a.projection == b.projection


PROJ_CODE = {"rectilinear": 0, "stereographic": 1, "fisheye": 2}


class PanoramaGLWidget(QOpenGLWidget):
    """A live viewport of one ERP image under a (possibly shared) :class:`Camera`."""

    notice = Signal(str)          # e.g. "image downsampled to fit GL_MAX_TEXTURE_SIZE"
    activated = Signal()          # the user clicked / focused this pane
    glInfo = Signal(dict)         # renderer / version / max texture size, once initialised

    def __init__(self, camera: Camera | None = None, parent=None):
        super().__init__(parent)
        self.camera = camera or Camera(parent=self)
        self.camera.changed.connect(self.update)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(False)
        self.setMinimumSize(160, 120)
        self.grabGesture(Qt.GestureType.PinchGesture)
        self._image: np.ndarray | None = None      # what the texture holds (after any downsampling)
        self._pending: np.ndarray | None = None
        self._overlay: np.ndarray | None = None
        self._overlay_view: View | None = None
        self._overlay_pending = False
        self._prog = self._vao = None
        self._tex_pano = self._tex_overlay = None
        self._uniforms: dict[str, int] = {}
        self.max_texture_size = None
        self.gl_info: dict = {}
        self._drag_pos: QPointF | None = None
        self.show_overlay = True
        self._image_b: np.ndarray | None = None     # wipe: the right side's live image
        self._pending_b: np.ndarray | None = None
        self.split: float | None = None             # wipe: divider position in [0, 1] of the width

    # ------------------------------------------------------------ public API
    def set_image(self, img: np.ndarray | None) -> None:
        """Show an ERP image (H, W, 3) uint8; None clears the pane."""
        if img is not None:
            img = np.ascontiguousarray(img[..., :3], dtype=np.uint8)
        self._image = img
        self._pending = img if img is not None else np.zeros((0, 0, 3), np.uint8)
        self.clear_overlay()
        self.update()

    def set_split(self, image_b: np.ndarray | None, split: float | None) -> None:
        """Wipe: show ``image_b`` live right of ``split`` (a fraction of the width) and draw the
        divider there (always, over the live view and over any overlay); None turns it off."""
        if image_b is not None and image_b is not self._image_b:
            self._image_b = np.ascontiguousarray(image_b[..., :3], dtype=np.uint8)
            self._pending_b = self._image_b
        self.split = split
        self.update()

    def split_x(self) -> int | None:
        """The divider's column in framebuffer pixels (what the shader and the overlay compose use)."""
        if self.split is None:
            return None
        return int(round(self.split * self.fb_size()[0]))

    def image(self) -> np.ndarray | None:
        return self._image

    def has_image(self) -> bool:
        return self._image is not None

    def fb_size(self) -> tuple[int, int]:
        r = self.devicePixelRatioF()
        return max(1, round(self.width() * r)), max(1, round(self.height() * r))

    def view(self) -> View:
        """The viewport this pane shows now (framebuffer pixels)."""
        return self.camera.view(*self.fb_size())

    def set_overlay(self, img: np.ndarray | None, view: View | None) -> None:
        """Draw ``img`` (h, w, 3; float [0, 1] or uint8) instead of the live view while ``view``
        matches the camera. It is stretched to the pane (a low-resolution render is upscaled)."""
        if img is None:
            self.clear_overlay()
            return
        if img.dtype != np.uint8:
            img = to_uint8(img)
        self._overlay = np.ascontiguousarray(img[..., :3])
        self._overlay_view = view
        self._overlay_pending = True
        self.update()

    def clear_overlay(self) -> None:
        self._overlay = None
        self._overlay_view = None
        self.update()

    def overlay_visible(self) -> bool:
        return self.show_overlay and self._overlay is not None and views_match(self._overlay_view, self.view())

    def grab_image(self) -> np.ndarray:
        """The pane's pixels exactly as drawn: (h, w, 3) uint8 from grabFramebuffer()."""
        return qimage_to_rgb(self.grabFramebuffer())

    # ------------------------------------------------------------------- GL
    def initializeGL(self) -> None:
        from OpenGL.GL import shaders

        vs = shaders.compileShader(_VERT, GL.GL_VERTEX_SHADER)
        fs = shaders.compileShader(_FRAG, GL.GL_FRAGMENT_SHADER)
        self._prog = shaders.compileProgram(vs, fs, validate=False)
        self._vao = GL.glGenVertexArrays(1)
        self._tex_pano, self._tex_overlay, self._tex_b = (int(t) for t in GL.glGenTextures(3))
        for tex in (self._tex_pano, self._tex_overlay, self._tex_b):
            GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR)
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR)
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAX_LEVEL, 0)
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)
            wrap_s = GL.GL_CLAMP_TO_EDGE if tex == self._tex_overlay else GL.GL_REPEAT
            GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_S, wrap_s)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)
        self._uniforms = {n: GL.glGetUniformLocation(self._prog, n)
                          for n in ("u_pano", "u_overlay", "u_mode", "u_size", "u_focal", "u_rot", "u_proj",
                                    "u_pano_b", "u_split")}
        self.max_texture_size = int(GL.glGetIntegerv(GL.GL_MAX_TEXTURE_SIZE))
        self.gl_info = {
            "renderer": _gl_str(GL.GL_RENDERER),
            "version": _gl_str(GL.GL_VERSION),
            "vendor": _gl_str(GL.GL_VENDOR),
            "max_texture_size": self.max_texture_size,
        }
        self.glInfo.emit(self.gl_info)
        if self._image is not None:
            self._pending = self._image
        if self._overlay is not None:
            self._overlay_pending = True
        if self._image_b is not None:
            self._pending_b = self._image_b
        ctx = self.context()
        ctx.aboutToBeDestroyed.connect(self._cleanup)

    def _cleanup(self) -> None:
        if self._prog is None:
            return
        self.makeCurrent()
        try:
            GL.glDeleteTextures([self._tex_pano, self._tex_overlay, self._tex_b])
            GL.glDeleteVertexArrays(1, [self._vao])
            GL.glDeleteProgram(self._prog)
        except Exception:  # noqa: BLE001 - context already gone
            pass
        self._prog = None
        self.doneCurrent()

    def _upload(self, tex: int, img: np.ndarray) -> None:
        GL.glBindTexture(GL.GL_TEXTURE_2D, tex)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        h, w = img.shape[:2]
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, GL.GL_RGB8, w, h, 0, GL.GL_RGB, GL.GL_UNSIGNED_BYTE, img)
        GL.glBindTexture(GL.GL_TEXTURE_2D, 0)

    def _upload_pending(self) -> None:
        if self._pending is not None:
            img, self._pending = self._pending, None
            if img.size:
                m = self.max_texture_size or 4096
                if img.shape[1] > m or img.shape[0] > m:
                    H, W = img.shape[:2]
                    img = downsample_to(img, m, m)
                    self._image = img
                    self.notice.emit(
                        f"The panorama ({W}x{H}) is larger than this GPU's texture limit ({m} px): "
                        f"shown downsampled to {img.shape[1]}x{img.shape[0]} in the live view.")
                self._upload(self._tex_pano, img)
        if self._pending_b is not None:
            img, self._pending_b = self._pending_b, None
            m = self.max_texture_size or 4096
            if img.shape[1] > m or img.shape[0] > m:
                img = downsample_to(img, m, m)
            self._upload(self._tex_b, img)
        if self._overlay_pending and self._overlay is not None:
            self._overlay_pending = False
            ov = self._overlay
            m = self.max_texture_size or 4096
            if ov.shape[1] > m or ov.shape[0] > m:
                ov = downsample_to(ov, m, m)
            self._upload(self._tex_overlay, ov)

    def paintGL(self) -> None:
        if self._prog is None:
            return
        self._upload_pending()
        w, h = self.fb_size()
        GL.glViewport(0, 0, w, h)
        GL.glDisable(GL.GL_DEPTH_TEST)
        GL.glDisable(GL.GL_BLEND)
        GL.glUseProgram(self._prog)
        v = self.camera.view(w, h)
        mode = 0 if self._image is None else (2 if self.overlay_visible() else 1)
        u = self._uniforms
        GL.glUniform1i(u["u_mode"], mode)
        GL.glUniform2f(u["u_size"], float(w), float(h))
        GL.glUniform2f(u["u_focal"], float(v.fx), float(v.fy))
        GL.glUniformMatrix3fv(u["u_rot"], 1, GL.GL_TRUE, rotation_matrix(v.yaw, v.pitch).astype(np.float32))
        GL.glUniform1i(u["u_proj"], PROJ_CODE[v.projection])
        sx = self.split_x()
        GL.glUniform1f(u["u_split"], -1.0 if sx is None or self._image_b is None and mode != 2 else float(sx))
        GL.glActiveTexture(GL.GL_TEXTURE0)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._tex_pano)
        GL.glUniform1i(u["u_pano"], 0)
        GL.glActiveTexture(GL.GL_TEXTURE1)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._tex_overlay)
        GL.glUniform1i(u["u_overlay"], 1)
        GL.glActiveTexture(GL.GL_TEXTURE2)
        GL.glBindTexture(GL.GL_TEXTURE_2D, self._tex_b)
        GL.glUniform1i(u["u_pano_b"], 2)
        GL.glBindVertexArray(self._vao)
        GL.glDrawArrays(GL.GL_TRIANGLES, 0, 3)
        GL.glBindVertexArray(0)
        GL.glActiveTexture(GL.GL_TEXTURE0)
        GL.glUseProgram(0)

    # --------------------------------------------------------------- events
    def mousePressEvent(self, e) -> None:
        self.activated.emit()
        if e.button() == Qt.MouseButton.LeftButton and self._image is not None:
            self._drag_pos = e.position()
            self.camera.begin_drag()
            self.setCursor(Qt.CursorShape.ClosedHandCursor)
            e.accept()
            return
        super().mousePressEvent(e)

    def mouseMoveEvent(self, e) -> None:
        if self._drag_pos is not None and e.buttons() & Qt.MouseButton.LeftButton:
            p = e.position()
            d = p - self._drag_pos
            self._drag_pos = p
            r = self.devicePixelRatioF()
            w, h = self.fb_size()
            self.camera.drag_by(d.x() * r, d.y() * r, w, h)
            e.accept()
            return
        super().mouseMoveEvent(e)

    def mouseReleaseEvent(self, e) -> None:
        if self._drag_pos is not None and e.button() == Qt.MouseButton.LeftButton:
            self._drag_pos = None
            self.camera.end_drag()
            self.unsetCursor()
            e.accept()
            return
        super().mouseReleaseEvent(e)

    def mouseDoubleClickEvent(self, e) -> None:
        self.camera.fullscreenRequested.emit()

    def wheelEvent(self, e) -> None:
        delta = e.angleDelta().y()
        if not delta:
            delta = e.pixelDelta().y() * 2  # trackpads: ~60 px per notch
        if delta:
            self.camera.zoom(ZOOM_STEP ** (delta / 120.0))
        e.accept()

    def keyPressEvent(self, e) -> None:
        if not handle_navigation_key(self.camera, e.key(), e.modifiers()):
            super().keyPressEvent(e)

    def focusInEvent(self, e) -> None:
        self.activated.emit()
        super().focusInEvent(e)

    def event(self, e) -> bool:
        t = e.type()
        if t == QEvent.Type.NativeGesture:  # macOS / libinput trackpad pinch
            if e.gestureType() == Qt.NativeGestureType.ZoomNativeGesture:
                self.camera.zoom(1.0 / (1.0 + e.value()))
                return True
        elif t == QEvent.Type.Gesture:
            pinch = e.gesture(Qt.GestureType.PinchGesture)
            if pinch is not None:
                f = pinch.scaleFactor()
                if f > 0:
                    self.camera.zoom(1.0 / f)
                e.accept(pinch)
                return True
        return super().event(e)


def handle_navigation_key(camera: Camera, key, modifiers=Qt.KeyboardModifier.NoModifier) -> bool:
    """Apply one navigation key to ``camera``; return True when the key was used."""
    K = Qt.Key
    M = Qt.KeyboardModifier
    if modifiers & (M.ControlModifier | M.AltModifier | M.MetaModifier):
        return False  # leave Ctrl+S, Ctrl+O ... to the menus
    fine = bool(modifiers & Qt.KeyboardModifier.ShiftModifier)
    steps = {K.Key_Right: (1, 0), K.Key_D: (1, 0), K.Key_Left: (-1, 0), K.Key_A: (-1, 0),
             K.Key_Up: (0, 1), K.Key_W: (0, 1), K.Key_Down: (0, -1), K.Key_S: (0, -1)}
    if key in steps:
        camera.step_key(*steps[key], fine=fine)
    elif key in (K.Key_Plus, K.Key_Equal, K.Key_PageUp):
        camera.zoom(ZOOM_STEP)
    elif key in (K.Key_Minus, K.Key_Underscore, K.Key_PageDown):
        camera.zoom(1.0 / ZOOM_STEP)
    elif key == K.Key_R:
        camera.reset()
    elif key in (K.Key_F, K.Key_F11):
        camera.fullscreenRequested.emit()
    elif key == K.Key_Escape:
        camera.escapePressed.emit()
    else:
        return False
    return True


def _gl_str(name) -> str:
    s = GL.glGetString(name)
    return s.decode(errors="replace") if isinstance(s, bytes) else str(s)
