"""Run one document's blocks in order, as a reader would: `python run_blocks.py BLOCKS.json`.

Python blocks share one namespace (the document reads top to bottom) with
`__name__ == "__main__"`; each is compiled under the document's name and its
own line numbers, so a traceback points into the Markdown file. Shell blocks
run their `bgjobs ...` and `python ...` lines as subprocesses; `bgjobs worker`
is started, must say it runs, and is stopped with SIGINT. Runs in the current
directory (a fresh temporary one).
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

WORKER_START_SECONDS = 60.0
COMMAND_SECONDS = 120.0


def main(blocks_file: str) -> int:
    with open(blocks_file, encoding="utf-8") as stream:
        blocks: list[dict[str, Any]] = json.load(stream)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    for block in blocks:
        print(f"--- {block['where']} ({block['language']})", flush=True)
        if block["kind"] == "python" and block["file"]:
            with open(block["file"], "w", encoding="utf-8") as program:
                program.write(block["source"])
            run_command(["python", block["file"]])
        elif block["kind"] == "python":
            code = compile("\n" * (block["line"] - 1) + block["source"], block["path"], "exec")
            exec(code, namespace)
        elif block["kind"] == "shell":
            for command in commands(block["source"]):
                run_command(command)
        sys.stdout.flush()
    return 0


def commands(source: str) -> list[list[str]]:
    """The block's command lines: continuations joined, `$ ` prompts and comments dropped."""
    joined = source.replace("\\\n", " ")
    found: list[list[str]] = []
    for line in joined.splitlines():
        line = line.strip()
        if line.startswith("$ "):
            line = line[2:]
        if not line or line.startswith("#"):
            continue
        found.append(shlex.split(line, comments=True))
    return found


def argv_of(words: list[str]) -> list[str]:
    program = os.path.basename(words[0])
    if program == "bgjobs":
        return [sys.executable, "-m", "bgjobs", *words[1:]]
    if program in ("python", "python3"):
        return [sys.executable, *words[1:]]
    raise SystemExit(
        f"cannot run {words[0]!r}: only bgjobs and python commands run; mark the block "
        "<!-- not-runnable: reason --> if it is not meant to"
    )


def run_command(words: list[str]) -> None:
    argv = argv_of(words)
    print(f"$ {shlex.join(words)}", flush=True)
    if words[1:2] == ["worker"]:
        run_worker(argv)
        return
    result = subprocess.run(argv, capture_output=True, text=True, timeout=COMMAND_SECONDS)
    sys.stdout.write(result.stdout + result.stderr)
    if result.returncode != 0:
        raise SystemExit(f"{shlex.join(words)} exited {result.returncode}")


def run_worker(argv: list[str]) -> None:
    """Start the worker, wait for its banner, stop it with SIGINT: it must exit 0."""
    log = Path("worker.log")
    with log.open("w", encoding="utf-8") as stream:
        process = subprocess.Popen(argv, stdout=stream, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + WORKER_START_SECONDS
    while "running" not in log.read_text(encoding="utf-8"):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"the worker did not start:\n{log.read_text(encoding='utf-8')}")
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    status = process.wait(timeout=COMMAND_SECONDS)
    sys.stdout.write(log.read_text(encoding="utf-8"))
    if status != 0:
        raise SystemExit(f"the worker exited {status}")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
