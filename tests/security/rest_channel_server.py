"""The input channels of credentials.yml on a bare Sanic server, for the production test.

`.venv/bin/python -m tests.security.rest_channel_server PORT` reads credentials.yml with
Rasa's own reader (environment variables filled in, as `rasa run` does), builds each
channel from its credentials and registers it under /webhooks/ as Rasa does, and answers
each message with an echo instead of a model: the channels' own checks, without the half
minute it takes to import the rest of Rasa (TensorFlow) and load a model.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rasa.core.channels.channel import InputChannel, UserMessage, register
from rasa.shared.utils.common import class_from_module_path
from rasa.shared.utils.io import read_config_file
from sanic import Sanic

ROOT = Path(__file__).resolve().parents[2]


class EchoAgent:
    async def handle_message(self, message: UserMessage) -> None:
        assert message.output_channel is not None
        await message.output_channel.send_text_message(message.sender_id, f"echo {message.text}")


def channels() -> list[InputChannel]:
    """What `rasa run --credentials credentials.yml` builds (rasa.core.run)."""
    configured = read_config_file(str(ROOT / "credentials.yml"))
    return [
        class_from_module_path(name).from_credentials(credentials)
        for name, credentials in configured.items()
    ]


def main() -> None:
    port = int(sys.argv[1])
    app = Sanic("channels_only", configure_logging=False)
    app.ctx.agent = EchoAgent()
    register(channels(), app, "/webhooks/")
    app.run(host="127.0.0.1", port=port, workers=1, access_log=False)


if __name__ == "__main__":
    main()
