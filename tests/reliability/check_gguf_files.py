"""Run inspect_gguf on every file of a folder, one JSON line per file, so a parent can see a crash or hang.

Usage: python -m tests.reliability.check_gguf_files DIR [FIRST_INDEX]
Each line is written and flushed before the next file is opened: the last name printed is the
culprit if the process dies or stops responding.
"""

import json
import sys
import time
from pathlib import Path

from orchestrator.errors import ModelFileError
from orchestrator.gguf_file import inspect_gguf


def main(folder: str, first: int = 0) -> None:
    for path in sorted(Path(folder).glob("*.gguf"))[first:]:
        print(json.dumps({"file": path.name, "status": "started"}), flush=True)
        start = time.perf_counter()
        try:
            inspect_gguf(path)
            status, message = "accepted", ""
        except ModelFileError as exc:
            status, message = "ModelFileError", str(exc)
        except Exception as exc:  # anything else is a validator bug: report it, keep going
            status, message = type(exc).__name__, str(exc)[:300]
        print(
            json.dumps(
                {
                    "file": path.name,
                    "status": status,
                    "message": message,
                    "seconds": round(time.perf_counter() - start, 3),
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0)
