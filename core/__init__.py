"""resvr.core: geometry, sampling, codecs, learned models and pipelines. Never imports Qt."""
__version__ = "0.1.0"
