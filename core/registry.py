"""The one registry of methods: every name, label and file rule of a method is read from here.

One :class:`MethodInfo` per method. What derives from it:

* ``resvr render --method`` choices: :func:`render_ids` (in pane order);
* ``resvr encode --method`` choices: :func:`encode_ids` (+ ``all``, the comparison bundle);
* bundle file names (``bundle.SUFFIX``) and which bundle file a render method reads
  (``Bundle.source_for``): ``suffix`` and ``reads``;
* the methods an XMP packet may name (``jpeg.xmp.METHODS``): :func:`encode_ids`;
* the viewer's panes, their order and labels (``viewer.document``): :func:`render_ids`, ``label``,
  ``colour``;
* the evaluation's rows (``evaluate.rows``): ``eval_rows``, ``tag``;
* default weights (``models.weights.default_weights_path``): ``weights``;
* the per-method weights options of ``resvr eval`` and ``resvr bench`` (``--resvr-weights``,
  ``--ht-weights``, ...): ``weights_flag``, in the order of :func:`weights_ids`;
* the training graph a config's ``model.type`` builds (``models.pipelines.build_model``): ``model``;
* what the bench and the evaluation compare: :data:`PRIMARY` against :data:`RIVAL` and the others.

The implementation of a render method (a ``methods.Method`` subclass) registers itself under
the same id with ``methods.register``, an encoder under the ids it encodes with
``encode.encoders.register_encoder``.

How to add a method (DINN360 was added this way):

1. add one ``MethodInfo`` to ``METHODS`` below (the order is the viewer's pane order);
2. write its ``methods.Method`` subclass (``@register``; ``name`` = the id), with its model and
   inference path under ``core/models/`` (``model`` names its training graph);
3. if it encodes (``suffix`` set): its encoder in ``core/encode`` (``@register_encoder(id)``);
4. ship its weights as ``core/assets/weights/<weights>`` (``scripts/export_weights.py``).

Nothing else spells the method's id: ``tests/test_contracts.py`` checks that no string equal to a
method id appears in core outside this module and the method's own modules (its ``Method``
subclass, its models, its encoder), and that the CLI's choices and weights options, the XMP
check, the render methods and the encoders follow this table.

This module imports nothing from the project (every layer may read it).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MethodInfo:
    id: str
    label: str
    learned: bool = False
    #: a method that renders views (``resvr render --method``, a viewer pane)
    renders: bool = True
    #: the file name suffix of its own LR file in a comparison bundle (None: it has none and
    #: does not encode)
    suffix: str | None = None
    #: which file a render reads in a bundle: the id of a bundle entry, "baseline" (the JPEG
    #: baseline, else the first LR file the bundle has) or "reference" (the HR image)
    reads: str = "baseline"
    #: its render decodes the JPEG's DCT coefficients itself (the file must be a YCbCr JPEG)
    reads_dct: bool = False
    #: default weights file name (under the package's assets/weights), learned methods only
    weights: str | None = None
    #: the pane colour (a CSS hex colour): the accent of its label in the viewer
    colour: str = "#9e9e9e"
    #: its rows in ``resvr eval`` (encode methods): (row key, label, render), where render is a
    #: render method id, or for a learned method that decodes an HR ERP the sampling mode of a view
    eval_rows: tuple = ()
    #: its training graph (learned methods): "module:Class" under ``core/models``, built by
    #: ``models.pipelines.build_model`` for a config whose ``model.type`` is the id
    model: str | None = None

    @property
    def tag(self) -> str:
        """Short name of its LR files (the suffix's first part: ".ht.jpg" -> "ht")."""
        return self.suffix.split(".")[1] if self.suffix else self.id

    @property
    def name(self) -> str:
        """The method's own name, without the resampling its label adds ("HyperThumbnail")."""
        return self.label.split(" + ")[0]

    @property
    def weights_flag(self) -> str | None:
        """The option that gives ``resvr eval``/``resvr bench`` its weights ("--ht-weights"; its
        argparse dest is ``ht_weights``), learned methods only."""
        return f"--{self.tag}-weights" if self.learned else None

    @property
    def weights_dest(self) -> str | None:
        """The attribute of the parsed options that holds ``weights_flag``'s value."""
        return self.weights_flag[2:].replace("-", "_") if self.learned else None


METHODS: tuple[MethodInfo, ...] = (
    MethodInfo("bilinear", "Bilinear", colour="#9e9e9e"),
    MethodInfo("bicubic", "Bicubic", colour="#78909c"),
    MethodInfo("jpeg", "JPEG (bicubic down)", renders=False, suffix=".jpeg.jpg", reads="jpeg", colour="#8d6e63",
               eval_rows=(("bic-jpeg-bil", "Bicubic & JPEG & Bilinear", "bilinear"),
                          ("bic-jpeg-bic", "Bicubic & JPEG & Bicubic", "bicubic"))),
    MethodInfo("hyperthumbnail", "HyperThumbnail + Bicubic", learned=True, suffix=".ht.jpg", reads="hyperthumbnail",
               reads_dct=True, weights="hyperthumbnail.pt", colour="#ffb74d", model="pipelines:HyperThumbnail",
               eval_rows=(("ht-bil", "HyperThumbnail & Bilinear", "bilinear"),
                          ("ht-bic", "HyperThumbnail & Bicubic", "bicubic"))),
    MethodInfo("dinn360", "DINN360 + Bicubic", learned=True, suffix=".dinn.jpg", reads="dinn360", weights="dinn360.pt",
               colour="#aed581", model="dinn360:DINN360", eval_rows=(("dinn-bic", "DINN360 & Bicubic", "bicubic"),)),
    MethodInfo("resvr", "ResVR", learned=True, suffix=".resvr.jpg", reads="resvr", weights="resvr.pt",
               colour="#4fc3f7", model="pipelines:ResVR", eval_rows=(("resvr", "ResVR", "resvr"),)),
    MethodInfo("reference", "Reference (HR)", reads="reference", colour="#e0e0e0"),
)
BY_ID = {m.id: m for m in METHODS}
#: ``resvr encode --method all``: every encoding method into one comparison bundle
ENCODE_ALL = "all"
#: the project's own method: first among the learned methods in option lists; what the bench
#: times against the others and its first-view runs are about; the evaluation's ablation rows
PRIMARY = "resvr"
#: the method the ResVR paper measures it against: the bench's first-view runs (the NeRV360
#: argument) and the evaluation's margins
RIVAL = "hyperthumbnail"


def get(method_id: str) -> MethodInfo:
    """The record of ``method_id``; ValueError naming the known ids otherwise."""
    try:
        return BY_ID[method_id]
    except KeyError:
        raise ValueError(f"unknown method {method_id!r}; choose one of {', '.join(BY_ID)}") from None


def render_ids() -> tuple[str, ...]:
    """Methods that render views, in the viewer's pane order."""
    return tuple(m.id for m in METHODS if m.renders)


def encode_ids() -> tuple[str, ...]:
    """Methods that write their own LR file (a bundle entry, an XMP ``Method``), in the order a
    bundle lists them: the learned methods, latest in ``METHODS`` first, then the baselines."""
    enc = [m for m in METHODS if m.suffix]
    return tuple(m.id for m in enc[::-1] if m.learned) + tuple(m.id for m in enc if not m.learned)


def baseline_order() -> tuple[str, ...]:
    """The bundle entries a "baseline" render reads, first found first: the classic encodings,
    then the learned ones (a bundle lists at least one entry)."""
    ids = encode_ids()
    return tuple(i for i in ids if not BY_ID[i].learned) + tuple(i for i in ids if BY_ID[i].learned)


def learned_ids() -> tuple[str, ...]:
    return tuple(m.id for m in METHODS if m.learned)


def weights_ids() -> tuple[str, ...]:
    """The methods with weights options (``MethodInfo.weights_flag``), in the options' order:
    :data:`PRIMARY`, then the other learned methods in ``METHODS`` order."""
    return (PRIMARY,) + tuple(i for i in learned_ids() if i != PRIMARY)


def given_weights(options) -> dict:
    """Method id -> the weights file its option gave in ``options`` (parsed arguments; None: the
    shipped weights), for every method of :func:`weights_ids`."""
    return {i: getattr(options, BY_ID[i].weights_dest, None) for i in weights_ids()}


def reference_id() -> str:
    """The render method of the HR image itself (the ground truth of every comparison)."""
    return next(m.id for m in METHODS if m.reads == "reference")


def classic_ids() -> tuple[str, ...]:
    """The render methods that only resample a file (no weights), in pane order."""
    return tuple(m.id for m in METHODS if m.renders and not m.learned and m.reads == "baseline")


def label(method_id: str) -> str:
    """Display label (the id itself for an unknown id)."""
    m = BY_ID.get(method_id)
    return m.label if m else method_id
