"""python -m resvr.core.train CONFIG [--resume CKPT] [--device DEV] [--max-iters N] [--max-hours H]"""
import argparse
import sys

from .loop import train_main

if __name__ == "__main__":
    ap = argparse.ArgumentParser(prog="python -m resvr.core.train")
    ap.add_argument("config")
    ap.add_argument("--resume")
    ap.add_argument("--device")
    ap.add_argument("--max-iters", type=int)
    ap.add_argument("--max-hours", type=float)
    sys.exit(train_main(ap.parse_args()))
