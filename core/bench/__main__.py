"""``python -m resvr.core.bench --worker JOB.json OUT.json``: one bench job in this process."""
import sys

from .jobs import worker_main

if len(sys.argv) != 4 or sys.argv[1] != "--worker":
    sys.exit("usage: python -m resvr.core.bench --worker JOB.json OUT.json (the bench itself: resvr bench)")
sys.exit(worker_main(sys.argv[2], sys.argv[3]))
