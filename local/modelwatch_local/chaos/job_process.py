"""A monitoring job in a process of its own, so an experiment can kill it mid-window.

``python -m modelwatch_local.chaos.job_process --state-dir D --job drift --model M --window-start T``
loads the job's handler (``functions/<job>/handler.py``, as Lambda does), prints ``started`` and
runs the window (forced, like an on-demand invocation).
"""

from __future__ import annotations

import argparse
import json
import sys

from modelwatch_local.scheduler import LocalScheduler
from modelwatch_local.stack import load_running_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modelwatch_local.chaos.job_process")
    parser.add_argument("--state-dir", required=True)
    parser.add_argument("--job", required=True, choices=["drift", "quality", "performance"])
    parser.add_argument("--model", required=True)
    parser.add_argument("--window-start", required=True)
    parser.add_argument("--window-minutes", type=int, default=60)
    args = parser.parse_args(argv)
    stack = load_running_stack(args.state_dir)
    if stack is None:
        print(f"no stack in {args.state_dir}", file=sys.stderr)
        return 2
    scheduler = LocalScheduler(stack, window_minutes=args.window_minutes)
    scheduler.preload(args.job)  # the cold start, before saying it has started
    print("started", flush=True)
    event = {
        "model": args.model,
        "window_start": args.window_start,
        "window_minutes": args.window_minutes,
        "force": True,
    }
    print(json.dumps(scheduler.invoke(args.job, event)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
