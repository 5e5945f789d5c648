"""resvr.core: geometry, sampling, codecs, learned models and pipelines. Never imports Qt."""
__version__ = "0.1.0"
#: the command line program's name (its messages' prefix, the command recorded in a run's report)
PROG = "resvr"
