"""Image loading and saving for panoramas.

Loading (:func:`load_image`) always returns uint8 RGB (H, W, 3) and refuses anything it cannot
use with :class:`~resvr.core.errors.BadInput`, whose one-line message starts with the path:

* **Formats.** Only JPEG, PNG, TIFF, WebP and BMP (:data:`FORMATS`) are opened; Pillow is never
  asked to try its other plugins (EPS would hand the file to Ghostscript).
* **Sizes.** ``MAX_PIXELS = 16384 * 8192 * 2`` (268,435,456 pixels, i.e. twice a 16K x 8K
  panorama; 768 MiB as uint8 RGB) for an HR image; ``MAX_LR_PIXELS = MAX_PIXELS / 16`` (the LR file
  of such a panorama) for an LR file (a JPEG with the project's XMP, or ``lr=True``); at least
  ``MIN_WIDTH`` x ``MIN_HEIGHT`` (32 x 16: the learned renderer reflects 12 LR rows across each
  pole). The size is read from the file header and checked *before* any pixel is decoded, so a
  crafted header that claims a huge size costs nothing. Pillow's own decompression-bomb limit
  (lower by default; it would refuse a 16384 x 8192 panorama) is bypassed only while reading the
  header; Pillow's global setting is left alone.
* **Allocation sizes.** Before decoding, the file must be able to hold what its header claims: a
  Huffman-coded JPEG spends at least one bit on every 8x8 block of its largest component (so a
  79 KB file cannot claim 23000 x 11500), arithmetic-coded JPEGs are refused, and an image of over
  ``4 Mpx`` whose RGB pixels would be more than ``MAX_EXPANSION`` times the file is refused (no
  photograph comes near; a flat PNG reaches about 3,000). Running out of memory while decoding is a
  BadInput too.
* **Modes.** EXIF orientation is applied (``ImageOps.exif_transpose``). Grayscale, palette
  (with or without transparency), RGBA/LA (alpha dropped, no compositing) and YCbCr become RGB;
  CMYK is converted with a :class:`ConversionWarning` (and refused for an LR file, which must be a
  YCbCr JPEG). 16-bit images (PNG ``I;16``/``I;16B``/``I``) are scaled with
  ``round(v * 255 / 65535)``; Pillow already reduces 48/64-bit RGB(A) PNGs to 8 bits per channel on
  open.
* **Corrupt files.** ``ImageFile.LOAD_TRUNCATED_IMAGES`` is forced off while loading and the
  image is fully decoded (``load()``) inside the error handler, so a truncated JPEG/PNG is refused
  instead of being padded with grey. A JPEG of up to ``MAX_LR_PIXELS`` (every LR file) is also
  decoded strictly: libjpeg's warnings (a scan cut short, bad Huffman codes, extraneous bytes),
  which it would otherwise answer with grey blocks, refuse the file
  (:func:`~resvr.core.jpeg.markers.jpeg_entropy_problem`).
* **Non-2:1 images are accepted with a warning** (:class:`AspectWarning`, through
  :mod:`warnings`) that names the ratio. The viewer still maps the whole image onto the full
  sphere as an equirectangular projection, so such an image looks stretched; refusing it would
  stop people from opening slightly-off captures (e.g. 5376 x 2689) at all.

Saving (:func:`save_png`) is atomic (temporary file in the same folder, then rename) and never
replaces an existing file unless ``overwrite=True``.
"""
from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import threading
import warnings
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps

from .errors import BadInput

__all__ = [
    "MAX_PIXELS",
    "MAX_LR_PIXELS",
    "MIN_WIDTH",
    "MIN_HEIGHT",
    "FORMATS",
    "AspectWarning",
    "ConversionWarning",
    "image_size",
    "check_image",
    "load_image",
    "save_png",
    "png_bytes",
    "to_uint8",
    "atomic_output",
    "write_bytes_atomic",
]

#: Largest image accepted, in pixels (width * height): twice a 16384 x 8192 panorama.
MAX_PIXELS = 16384 * 8192 * 2
#: Largest LR file accepted: the LR file of a MAX_PIXELS panorama at 4x (16.8 Mpx).
MAX_LR_PIXELS = MAX_PIXELS // 16
#: Smallest image accepted (the learned renderer reflects 12 LR rows across each pole).
MIN_WIDTH, MIN_HEIGHT = 32, 16
#: The only formats opened (Pillow format names).
FORMATS = ("JPEG", "PNG", "TIFF", "WEBP", "BMP")
#: Above 4 Mpx, refuse a file whose RGB pixels would be more than this many times its size.
MAX_EXPANSION = 5000
_EXPANSION_FROM = 1 << 22

# Pillow's own decompression-bomb check (default ~89.5 Mpx, below a 16K panorama) is switched off
# while *opening* the header (under a lock); our check on the header size, before load(), applies.
_OPEN_LOCK = threading.Lock()


class AspectWarning(UserWarning):
    """The image is not 2:1; it is still shown as a full equirectangular sphere."""


class ConversionWarning(UserWarning):
    """The image's colours were converted to RGB with a generic formula (CMYK)."""


_ORIENT_SWAPS = {5, 6, 7, 8}  # EXIF orientations that swap width and height


def _open(path: Path) -> Image.Image:
    """Open the header only (no pixels decoded), mapping every failure to BadInput."""
    if not path.exists():
        raise BadInput(f"{path}: no such file")
    if path.is_dir():
        raise BadInput(f"{path}: is a folder, not an image file")
    if path.stat().st_size == 0:
        raise BadInput(f"{path}: empty file (0 bytes)")
    try:
        with _OPEN_LOCK:
            saved = Image.MAX_IMAGE_PIXELS
            Image.MAX_IMAGE_PIXELS = None
            try:
                return Image.open(path, formats=FORMATS)
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except Image.DecompressionBombError:
        raise BadInput(f"{path}: image is larger than the limit of {MAX_PIXELS} pixels") from None
    except Image.UnidentifiedImageError:
        raise BadInput(f"{path}: not an image file of an accepted format "
                       f"({', '.join(f.replace('WEBP', 'WebP') for f in FORMATS)})") from None
    except Exception as e:  # noqa: BLE001 - any decoder error is bad input
        raise BadInput(f"{path}: cannot read image header ({_one_line(e)})") from None


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _oriented_size(im: Image.Image) -> tuple[int, int]:
    w, h = im.size
    if im.format == "PNG" and "exif" not in im.info:
        return w, h  # Pillow would decode the whole PNG to look for an eXIf chunk after the pixels
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block just means "no orientation"
        orientation = 1
    return (h, w) if orientation in _ORIENT_SWAPS else (w, h)


def _check_size(path: Path, w: int, h: int, max_pixels: int, what: str = "image") -> None:
    if w <= 0 or h <= 0:
        raise BadInput(f"{path}: zero-size image ({w}x{h})")
    if w * h > max_pixels:
        raise BadInput(f"{path}: {what} of {w}x{h} = {w * h} pixels is above the limit of {max_pixels} pixels")
    if w < MIN_WIDTH or h < MIN_HEIGHT:
        raise BadInput(f"{path}: image of {w}x{h} is below the minimum size of {MIN_WIDTH}x{MIN_HEIGHT}")


def _jpeg_header(path: Path) -> dict | None:
    """The frame header of a JPEG file (None when it cannot be parsed; Pillow then has its say)."""
    from .jpeg.markers import jpeg_frame

    with open(path, "rb") as f:
        head = f.read(1 << 20)
    try:
        return jpeg_frame(head)
    except ValueError:
        return None


def _check_allocation(path: Path, im: Image.Image, w: int, h: int, nbytes: int) -> None:
    """Refuse a file that cannot hold the pixels its header claims, before any buffer is made."""
    if im.format == "JPEG":
        frame = _jpeg_header(path)
        if frame is not None and frame["sof"] not in (0xC0, 0xC1, 0xC2, 0xC3):
            raise BadInput(f"{path}: unsupported JPEG coding (SOF marker 0x{frame['sof']:02X}); "
                           "baseline, progressive and lossless Huffman JPEGs are accepted")
        blocks = -(-w // 8) * -(-h // 8)  # one bit per block of the full-resolution component at least
        if nbytes * 8 < blocks:
            raise BadInput(f"{path}: a {nbytes}-byte JPEG cannot hold the {w}x{h} image its header "
                           "claims (corrupt or crafted file)")
    if w * h > _EXPANSION_FROM and w * h * 3 > MAX_EXPANSION * nbytes:
        raise BadInput(f"{path}: a {nbytes}-byte file claims {w}x{h} pixels, more than {MAX_EXPANSION} "
                       "times its size as RGB (corrupt or crafted file)")


def _is_lr_file(path: Path, im: Image.Image) -> bool:
    """An LR file written by this project: a JPEG with the project's XMP (resvr:Method)."""
    if im.format != "JPEG":
        return False
    from .jpeg.markers import read_xmp
    from .jpeg.xmp import PREFIX

    try:
        return "Method" in read_xmp(path).get(PREFIX, {})
    except BadInput:
        return False


def image_size(path) -> tuple[int, int]:
    """(width, height) as displayed (after EXIF orientation), read from the header only."""
    path = Path(path)
    im = _open(path)
    try:
        return _oriented_size(im)
    finally:
        im.close()


def _to_rgb8(im: Image.Image) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        a = np.asarray(im).astype(np.float64)
        a = np.clip(np.round(a * (255.0 / 65535.0)), 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2)
    if mode == "F":
        a = np.asarray(im).astype(np.float64)
        if np.nanmax(a) <= 1.0:
            a = a * 255.0
        a = np.clip(np.round(np.nan_to_num(a)), 0, 255).astype(np.uint8)
        return np.repeat(a[..., None], 3, axis=2)
    if mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if mode != "RGB":
        im = im.convert("RGB")  # L, LA, P, RGBA (alpha dropped), CMYK, YCbCr, LAB, 1 ...
    return np.asarray(im, dtype=np.uint8).copy()


def _checked_open(path: Path, max_pixels: int, lr: bool | None) -> Image.Image:
    """Open the header and run every check that comes before decoding (see :func:`load_image`)."""
    im = _open(path)
    try:
        w, h = im.size
        ow, oh = _oriented_size(im)
        if lr is None:
            lr = _is_lr_file(path, im)
        if lr:
            if im.format != "JPEG":
                raise BadInput(f"{path}: an LR panorama file must be a JPEG, not {im.format}")
            if im.mode != "RGB":
                raise BadInput(f"{path}: an LR panorama file must be a YCbCr JPEG, not {im.mode}")
        _check_size(path, ow, oh, min(max_pixels, MAX_LR_PIXELS) if lr else max_pixels,
                    "LR file" if lr else "image")
        _check_allocation(path, im, w, h, path.stat().st_size)
        if im.format == "JPEG" and w * h <= MAX_LR_PIXELS:
            _check_jpeg_stream(path)
    except BaseException:
        im.close()
        raise
    return im


_CLEAN_JPEGS: dict = {}  # (path, mtime_ns, size) of files whose entropy-coded data decoded cleanly


def _check_jpeg_stream(path: Path) -> None:
    from .jpeg.markers import jpeg_entropy_problem

    st = path.stat()
    key = (str(path.resolve()), st.st_mtime_ns, st.st_size)
    if key in _CLEAN_JPEGS:
        return
    problem = jpeg_entropy_problem(path)
    if problem is not None:
        raise BadInput(f"{path}: corrupt JPEG ({problem})")
    if len(_CLEAN_JPEGS) > 256:
        _CLEAN_JPEGS.clear()
    _CLEAN_JPEGS[key] = True


def check_image(path, max_pixels: int = MAX_PIXELS, lr: bool | None = None) -> tuple[int, int]:
    """Every check :func:`load_image` makes before decoding (format, size limits, allocation, a
    strict pass over a JPEG's entropy-coded data), without decoding the pixels: (width, height) as
    stored, or BadInput. For checking an input before anything expensive (loading weights)."""
    path = Path(path)
    with _checked_open(path, max_pixels, lr) as im:
        return im.size


def load_image(path, max_pixels: int = MAX_PIXELS, lr: bool | None = None) -> np.ndarray:
    """Load an image file as uint8 RGB (H, W, 3); see the module docstring for the policy.

    ``lr``: True for an LR file (``MAX_LR_PIXELS``, a YCbCr JPEG, decoded strictly), False for an HR
    image, None to decide from the file (a JPEG with the project's XMP is an LR file).
    Raises BadInput (message starts with the path) for a missing file, a format outside
    :data:`FORMATS`, a truncated or corrupt file, an image under the minimum size or above the
    limit, or a file too small for the size it claims (all checked before decoding).
    Warns with :class:`AspectWarning` when the image is not 2:1.
    """
    path = Path(path)
    src = im = _checked_open(path, max_pixels, lr)
    try:
        w, h = im.size
        if im.mode == "CMYK":
            warnings.warn(f"{path}: CMYK image converted to RGB without a colour profile; colours may be off",
                          ConversionWarning, stacklevel=2)
        saved = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            im.load()
            im = ImageOps.exif_transpose(im) or im
            arr = _to_rgb8(im)
        except BadInput:
            raise
        except MemoryError:
            raise BadInput(f"{path}: not enough memory to decode a {w}x{h} image") from None
        except Exception as e:  # noqa: BLE001 - truncated/corrupt data
            raise BadInput(f"{path}: cannot decode image ({_one_line(e)})") from None
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = saved
    finally:
        src.close()
    H, W = arr.shape[:2]
    if W != 2 * H:
        warnings.warn(
            f"{path}: {W}x{H} is not 2:1 (ratio {W / H:.3f}); shown as a full equirectangular sphere anyway",
            AspectWarning,
            stacklevel=2,
        )
    return arr


def to_uint8(img) -> np.ndarray:
    """float [0, 1] (or uint8) array (H, W[, C]) -> uint8, rounding to nearest (half to even, on
    the exact float64 product), clipped to [0, 255]."""
    a = np.asarray(img)
    if a.dtype == np.uint8:
        return a
    # in slices of 64k values through one float64 buffer: no image-sized float64 temporaries (a
    # 1024x768 view: 3 ms against 6-60 ms, most of it the page faults of fresh temporaries)
    src = a.reshape(-1)
    out = np.empty(a.shape, np.uint8)
    dst = out.reshape(-1)
    step = 1 << 16
    buf = np.empty(min(step, src.size), np.float64)
    for i in range(0, src.size, step):
        b = buf[:min(step, src.size - i)]
        b[...] = src[i:i + b.size]
        b *= 255.0
        np.rint(b, out=b)
        np.clip(b, 0, 255, out=b)
        dst[i:i + b.size] = b
    return out


def _umask() -> int:
    m = os.umask(0)
    os.umask(m)
    return m


@contextlib.contextmanager
def atomic_output(path, overwrite: bool = False):
    """Yield a temporary path in the folder of ``path``; on success move it to ``path``.

    The temporary file is removed when the body raises, so a failure leaves no output. Without
    ``overwrite`` an existing ``path`` is never replaced (checked before and, where the file system
    supports hard links, enforced atomically at the rename).
    """
    path = Path(path)
    if path.is_dir():
        raise BadInput(f"{path}: is a folder; expected an output file name")
    if path.exists() and not overwrite:
        raise BadInput(f"{path}: output exists; pass --overwrite to replace it")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise BadInput(f"{path}: output folder {parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=parent)
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a saved image gets the usual mode
        if overwrite:
            os.replace(tmp, path)
        else:
            try:
                os.link(tmp, path)  # fails if path appeared meanwhile
            except FileExistsError:
                raise BadInput(f"{path}: output exists; pass --overwrite to replace it") from None
            except OSError:  # no hard links here (some file systems): best effort
                if path.exists():
                    raise BadInput(f"{path}: output exists; pass --overwrite to replace it") from None
                os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes_atomic(path, data: bytes, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_output`)."""
    with atomic_output(path, overwrite) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    return Path(path)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_text(key: str, value: str) -> bytes:
    """A tEXt chunk (Latin-1 keyword and text), or an uncompressed iTXt chunk (UTF-8 text) when
    the text is not Latin-1, as Pillow's ``PngInfo.add_text`` writes them."""
    k = key.encode("latin-1")
    if not 1 <= len(k) <= 79 or b"\0" in k:
        raise ValueError(f"PNG text keyword must be 1-79 Latin-1 characters without NUL: {key!r}")
    try:
        return _png_chunk(b"tEXt", k + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        return _png_chunk(b"iTXt", k + b"\0\0\0\0\0" + value.encode("utf-8"))


def png_bytes(a: np.ndarray, text: dict | None = None) -> bytes:
    """(H, W) / (H, W, 3) / (H, W, 4) uint8 -> an 8-bit grey / RGB / RGBA PNG file: every row with
    the Sub filter, deflated at zlib level 1, text chunks before the image data.

    Written here rather than through Pillow because a view is written per rendered view
    (``render --views``, on the cores that render the next one): a 1024x768 view takes ~20 ms
    and 0.79 MB, against Pillow's 40 ms and 0.84 MB at level 2 (its per-row adaptive filter choice
    costs most of that). Pillow reads these files back in the tests."""
    h, w = a.shape[:2]
    c = 1 if a.ndim == 2 else a.shape[2]
    flat = np.ascontiguousarray(a).reshape(h, w * c)
    raw = np.empty((h, w * c + 1), np.uint8)
    raw[:, 0] = 1                                           # filter type 1 (Sub): x - the pixel to its left
    raw[:, 1:c + 1] = flat[:, :c]
    np.subtract(flat[:, c:], flat[:, :-c], out=raw[:, c + 1:])
    z = zlib.compressobj(1)
    data = z.compress(raw) + z.flush()
    head = struct.pack(">IIBBBBB", w, h, 8, {1: 0, 3: 2, 4: 6}[c], 0, 0, 0)
    return b"".join([b"\x89PNG\r\n\x1a\n", _png_chunk(b"IHDR", head),
                     *(_png_text(str(k), str(v)) for k, v in (text or {}).items()),
                     _png_chunk(b"IDAT", data), _png_chunk(b"IEND", b"")])


def save_png(path, array_uint8, text: dict | None = None, overwrite: bool = False) -> Path:
    """Save (H, W, 3) / (H, W, 4) / (H, W) uint8 as PNG (:func:`png_bytes`), atomically, with
    text chunks from ``text``.

    Float arrays in [0, 1] are converted with :func:`to_uint8`. Refuses to replace an existing file
    unless ``overwrite`` (raises BadInput).
    """
    a = to_uint8(array_uint8)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)) or a.size == 0:
        raise ValueError(f"save_png expects an (H, W[, 1|3|4]) image, got shape {a.shape}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    return write_bytes_atomic(path, png_bytes(a, text), overwrite)
