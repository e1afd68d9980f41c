"""`python -m tests.faults.table RECORD.jsonl [OUT.md]`: the fault table from a recorded run.

Run the fault tests with `FAULTS_RECORD=/tmp/faults.jsonl python -m pytest tests/faults`,
then render: each row is what one test saw and what it left (tests/faults/harness.py, Row).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def render(rows: list[dict]) -> str:
    lines = [
        "| fault | where injected | operation | what the client saw | what was left | test |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        test = row.get("test", "").split("::")[-1]
        cells = [row["fault"], row["where"], row["operation"], row["client_saw"], row["left"], test]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    rows = [json.loads(line) for line in Path(argv[0]).read_text().splitlines() if line.strip()]
    text = render(rows)
    if len(argv) > 1:
        Path(argv[1]).write_text(text)
    else:
        print(text, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
