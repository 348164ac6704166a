"""`python -m extensions.server run ...`: Rasa's own command line, started the way this
project needs it.

Before Rasa parses its arguments: the project's patches of Rasa are installed, here and
nowhere else (extensions/rasa_patches.py, which refuses another Rasa release than the one
they were written for; docs/rasa-patches.md lists them: the speed-ups, typed button titles
read as clicks, log lines without secrets, a shared tracker store's errors that fail the
message instead of being hidden), and the HTTP API's token is taken
from RASA_API_TOKEN: on the command line it would be readable by every local user (`ps`),
and a token starting with "-" would read as an option.
"""

from __future__ import annotations

import os
import sys

from extensions import rasa_patches


def main() -> None:
    import rasa.__main__ as cli

    rasa_patches.install()
    if "--enable-api" in sys.argv and not any(a.startswith("--auth-token") for a in sys.argv):
        token = os.environ.get("RASA_API_TOKEN", "")
        if not token:  # Rasa would serve its HTTP API to anyone
            raise SystemExit("RASA_API_TOKEN is not set: the HTTP API would have no token")
        sys.argv.append(f"--auth-token={token}")
    cli.main()


if __name__ == "__main__":
    main()
