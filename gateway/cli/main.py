"""`artifact-gateway`: configuration problems are reported one line each, never as tracebacks.

Only the server path imports the server (`aiohttp.web`, the app, the routes): the operator
sub-commands load settings and build destinations, nothing more.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from gateway.cli.commands import COMMANDS
from gateway.cli.startup import configured


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in COMMANDS:
        return COMMANDS[args[0]](args[1:])
    loaded = configured(args)
    if loaded is None:
        return 2
    from gateway.cli.serve import run  # the server's imports, for the server only

    return run(*loaded)


if __name__ == "__main__":
    sys.exit(main())
