"""XMP metadata of a ResVR-viewer JPEG: GPano (so other 360-degree viewers see a full sphere) plus
the project namespace (method, scale, HR size, model name and version).

``build_xmp(...)`` returns the XMP packet as bytes (UTF-8); ``parse_xmp(packet)`` parses any XMP
packet with :mod:`xml.etree.ElementTree` and returns ``{"GPano": {...}, "resvr": {...}}`` with
values converted to int / float / bool where the property is known. Properties written as
attributes of ``rdf:Description`` and as child elements are both understood.
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET

from .. import registry

__all__ = ["NS_GPANO", "NS_RESVR", "NS_RDF", "NS_X", "XMP_APP1_HEADER", "build_xmp", "parse_xmp"]

NS_X = "adobe:ns:meta/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_GPANO = "http://ns.google.com/photos/1.0/panorama/"
NS_RESVR = "https://resvr-viewer.example/ns/1.0/"
#: the project namespace's prefix: ``resvr:Method`` in the packet, the key of its values in
#: :func:`parse_xmp`'s result (the program's name, not a method id)
PREFIX = "resvr"
#: The APP1 payload of an XMP segment starts with this (XMP spec part 3).
XMP_APP1_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"

METHODS = registry.encode_ids()

_INT_KEYS = {
    "FullPanoWidthPixels", "FullPanoHeightPixels", "CroppedAreaImageWidthPixels",
    "CroppedAreaImageHeightPixels", "CroppedAreaLeftPixels", "CroppedAreaTopPixels",
    "HRWidth", "HRHeight", "Quality",
}
_FLOAT_KEYS = {"InitialViewHeadingDegrees", "InitialViewPitchDegrees", "InitialViewRollDegrees",
               "InitialHorizontalFOVDegrees", "PoseHeadingDegrees", "QScale", "Scale"}
_BOOL_KEYS = {"UsePanoramaViewer"}


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def build_xmp(width: int, height: int, method: str, scale: float, hr_width: int, hr_height: int,
              model: str | None = None, model_version: str | None = None,
              heading: float | None = None, pitch: float | None = None, hfov: float | None = None,
              extra: dict | None = None) -> bytes:
    """XMP packet for an LR panorama file of ``width`` x ``height`` pixels.

    GPano: ProjectionType=equirectangular, UsePanoramaViewer=True, FullPano* = CroppedAreaImage* =
    the file's own size, CroppedAreaLeft/Top = 0 (a full sphere), and the optional initial view.
    resvr: Method, Scale, HRWidth, HRHeight, Model, ModelVersion and any ``extra`` properties
    (names must be XML names, e.g. ``{"Quality": 83}``).
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r} for XMP; choose one of {METHODS}")
    gp = {
        "ProjectionType": "equirectangular",
        "UsePanoramaViewer": True,
        "FullPanoWidthPixels": int(width),
        "FullPanoHeightPixels": int(height),
        "CroppedAreaImageWidthPixels": int(width),
        "CroppedAreaImageHeightPixels": int(height),
        "CroppedAreaLeftPixels": 0,
        "CroppedAreaTopPixels": 0,
    }
    if heading is not None:
        gp["InitialViewHeadingDegrees"] = float(heading)
    if pitch is not None:
        gp["InitialViewPitchDegrees"] = float(pitch)
    if hfov is not None:
        gp["InitialHorizontalFOVDegrees"] = float(hfov)
    rv = {"Method": method, "Scale": float(scale), "HRWidth": int(hr_width), "HRHeight": int(hr_height)}
    if model is not None:
        rv["Model"] = model
    if model_version is not None:
        rv["ModelVersion"] = model_version
    rv.update(extra or {})

    ET.register_namespace("x", NS_X)
    ET.register_namespace("rdf", NS_RDF)
    ET.register_namespace("GPano", NS_GPANO)
    ET.register_namespace(PREFIX, NS_RESVR)
    root = ET.Element(f"{{{NS_X}}}xmpmeta")
    rdf = ET.SubElement(root, f"{{{NS_RDF}}}RDF")
    desc = ET.SubElement(rdf, f"{{{NS_RDF}}}Description", {f"{{{NS_RDF}}}about": ""})
    for k, v in gp.items():
        desc.set(f"{{{NS_GPANO}}}{k}", _fmt(v))
    for k, v in rv.items():
        desc.set(f"{{{NS_RESVR}}}{k}", _fmt(v))
    body = ET.tostring(root, encoding="unicode")
    packet = ('<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>\n' + body +
              '\n<?xpacket end="w"?>')
    return packet.encode("utf-8")


#: Accepted range of each numeric property (inclusive); anything else, NaN and infinities included,
#: makes :func:`parse_xmp` raise ValueError with one line.
_RANGES = {
    **{k: (0, 1 << 20) for k in ("FullPanoWidthPixels", "FullPanoHeightPixels", "CroppedAreaImageWidthPixels",
                                 "CroppedAreaImageHeightPixels", "CroppedAreaLeftPixels", "CroppedAreaTopPixels")},
    "HRWidth": (1, 1 << 20), "HRHeight": (1, 1 << 20), "Quality": (0, 100),
    "InitialViewHeadingDegrees": (-360.0, 360.0), "PoseHeadingDegrees": (-360.0, 360.0),
    "InitialViewPitchDegrees": (-90.0, 90.0), "InitialViewRollDegrees": (-360.0, 360.0),
    "InitialHorizontalFOVDegrees": (0.0, 360.0), "QScale": (0.0, 1e4), "Scale": (0.0, 64.0),
}


def _convert(key: str, text: str):
    text = text.strip()
    if key in _BOOL_KEYS:
        return text.lower() in ("true", "1", "yes")
    if key not in _INT_KEYS and key not in _FLOAT_KEYS:
        return text
    try:
        f = float(text)
    except ValueError:
        f = float("nan")
    lo, hi = _RANGES[key]
    if not math.isfinite(f) or not lo <= f <= hi or (key in ("Scale", "QScale") and f <= 0):
        raise ValueError(f"XMP property {key} must be a number in {lo:g}..{hi:g}, got {text[:40]!r}")
    if key in _INT_KEYS:
        return int(f)
    return int(f) if key == "Scale" and f.is_integer() else f


def parse_xmp(packet: bytes | str) -> dict:
    """Parse an XMP packet -> ``{"GPano": {...}, "resvr": {...}}`` (empty dicts when absent).

    Raises ValueError (one line) when the packet is not well-formed XML, or when a known numeric
    property is not a finite number in its range (:data:`_RANGES`; e.g. a NaN heading).
    """
    if isinstance(packet, bytes):
        packet = packet.decode("utf-8", errors="replace")
    # ElementTree ignores processing instructions (the xpacket wrapper) but not a leading BOM/junk
    start = packet.find("<")
    if start < 0:
        raise ValueError("XMP packet contains no XML")
    try:
        root = ET.fromstring(packet[start:].strip("\x00 \r\n\t"))
    except ET.ParseError as e:
        raise ValueError(f"malformed XMP: {e}") from None
    out = {"GPano": {}, PREFIX: {}}
    spaces = {NS_GPANO: "GPano", NS_RESVR: PREFIX}
    for desc in root.iter(f"{{{NS_RDF}}}Description"):
        for name, value in desc.attrib.items():
            if name.startswith("{"):
                ns, local = name[1:].split("}", 1)
                if ns in spaces:
                    out[spaces[ns]][local] = _convert(local, value)
        for child in desc:
            if child.tag.startswith("{"):
                ns, local = child.tag[1:].split("}", 1)
                if ns in spaces and child.text is not None:
                    out[spaces[ns]][local] = _convert(local, child.text)
    return out
