"""Five costs Rasa 3.6 pays on every message for no benefit, removed by `install()`.

Each was found by profiling the Rasa server under load (py-spy, see
docs/performance.md); none changes what Rasa does, only how often it redoes it.

- Action results: Rasa validates each answer of the action server with
  `jsonschema.validate(result, schema)`, which first checks the *schema
  itself* against the draft 2020-12 meta-schema, every time (once 45 % of the
  server's CPU). The schema never changes: it is checked once and the
  compiled validator reused; every action result is still validated.
  Each event was also tried against all 23 kinds of event (a `oneOf`), making an
  error object for each of the 22 it is not; the kinds differ by the constant
  in their `event` field, so at most one can match, and the event is checked
  against the kind it names (an unknown kind is still refused).
- Event types: reading a stored event looks its class up by walking every
  subclass of `Event` (with `inspect.isabstract` on each), once per event of
  the conversation on every message. Found classes are remembered by name;
  an unknown name still takes Rasa's own search and error.
- Action server calls: `EndpointConfig.request` opens a new HTTP client
  session, and so a new TCP connection, for every call, and a form turn makes
  several. Requests now share one keep-alive session per endpoint and event
  loop, with Rasa's own headers, authentication and timeout.
- BLAS threads: NumPy's OpenBLAS starts a worker thread per core, and after
  each of the intent classifier's small matrix products those workers spin
  (`sched_yield`) waiting for more, which under load kept the second core
  80 % busy doing nothing: the action server and the backend waited for it.
  The products are far too small to gain from splitting, so BLAS runs in the
  calling thread. (ONNX Runtime is given one thread in sentence_embeddings.py.)
- NLU on the event loop: Rasa runs the NLU pipeline inside its event loop,
  so while one message was being encoded every other conversation waited,
  though the encoder (ONNX Runtime, a quarter of the server's CPU) releases
  the GIL. The pipeline now runs in one thread of its own, beside the loop:
  the encoder uses the second core while the loop predicts and runs actions
  for other conversations. One thread, so the components (the CRF tagger
  keeps per-call state) never run twice at once; Rasa's `parse_message` is
  otherwise unchanged and gets the result through a context variable.
"""

from __future__ import annotations

import asyncio
import contextvars
import copy
import functools
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

import aiohttp
from jsonschema import Draft202012Validator, ValidationError
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.events import Event
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig
from threadpoolctl import threadpool_limits

from extensions.rasa_patches import replace, require_rasa_version

# Below the servers' own idle timeout (Sanic's is 5 s), so a connection is never
# reused at the moment the other side closes it.
KEEPALIVE_SECONDS = 3.0


@functools.lru_cache(maxsize=1)
def _validators() -> tuple[Draft202012Validator, dict[str, Draft202012Validator]]:
    """Rasa's schema for an action result without the `oneOf` over the kinds of event, and
    a validator per kind, by the constant its `event` field must have."""
    schema = copy.deepcopy(RemoteAction.action_response_format_spec())
    Draft202012Validator.check_schema(schema)
    event_schema = schema["properties"]["events"]["items"]
    kinds = {
        kind["properties"]["event"]["const"]: Draft202012Validator(kind)
        for kind in event_schema.pop("oneOf")
    }
    return Draft202012Validator(schema), kinds


def _validate(result: dict[str, Any]) -> None:
    """What Rasa's schema accepts: the result and each event's common fields first (so
    every event is an object with a string `event`), then the event as its kind."""
    outer, kinds = _validators()
    outer.validate(result)
    for event in result.get("events") or []:
        kind = kinds.get(event["event"])
        if kind is None:
            raise ValidationError(f"{event['event']!r} is not a kind of event")
        kind.validate(event)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    try:
        _validate(result)
    except ValidationError as error:
        error.message += (
            ". Failed to validate Action server response from API, make sure your "
            f"response from the Action endpoint is valid. See {DOCS_BASE_URL}/custom-actions"
        )
        raise
    return True


_event_types: dict[str, type[Event]] = {}
_search_event_type = Event.resolve_by_type


def _resolve_event_type(type_name: str, default: type[Event] | None = None) -> type[Event] | None:
    found = _event_types.get(type_name)
    if found is None:
        found = _search_event_type(type_name, default)
        if found is not None and found is not default:
            _event_types[type_name] = found
    return found


class _Borrowed:
    """`async with` over a shared session that leaves it open afterwards."""

    def __init__(self, session: aiohttp.ClientSession) -> None:
        self.session = session

    async def __aenter__(self) -> aiohttp.ClientSession:
        return self.session

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None


_open_session = EndpointConfig.session


def _shared_session(self: EndpointConfig) -> _Borrowed:
    loop = asyncio.get_running_loop()
    sessions: dict[asyncio.AbstractEventLoop, aiohttp.ClientSession]
    sessions = self.__dict__.setdefault("_shared_sessions", {})
    session = sessions.get(loop)
    if session is None or session.closed:
        fresh = _open_session(self)  # Rasa's headers, auth and timeout
        connector = aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_SECONDS)
        session = aiohttp.ClientSession(
            headers=fresh.headers, auth=fresh.auth, timeout=fresh.timeout, connector=connector
        )
        fresh.detach()  # it never opened a connection; nothing to close
        sessions[loop] = session
    return _Borrowed(session)


_nlu_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nlu")
# The NLU result of the message this task is parsing, computed in _nlu_thread.
_parsed: contextvars.ContextVar[tuple[UserMessage, dict[str, Any]] | None]
_parsed = contextvars.ContextVar("parsed", default=None)
_parse_in_loop = MessageProcessor._parse_message_with_graph
_rasa_parse_message = MessageProcessor.parse_message


def _parse_with_graph(
    self: MessageProcessor,
    message: UserMessage,
    tracker: DialogueStateTracker,
    only_output_properties: bool = True,
) -> dict[str, Any]:
    ready = _parsed.get()
    if ready is not None and ready[0] is message:
        _parsed.set(None)
        return ready[1]
    return _parse_in_loop(self, message, tracker, only_output_properties)


async def _parse_message(
    self: MessageProcessor,
    message: UserMessage,
    tracker: DialogueStateTracker | None = None,
    only_output_properties: bool = True,
) -> dict[str, Any]:
    if not self.http_interpreter:
        if tracker is None:
            tracker = DialogueStateTracker.from_events(message.sender_id, [])
        parsed = await asyncio.get_running_loop().run_in_executor(
            _nlu_thread, _parse_in_loop, self, message, tracker, only_output_properties
        )
        _parsed.set((message, parsed))
    result: dict[str, Any] = await _rasa_parse_message(
        self, message, tracker, only_output_properties
    )
    return result


def install() -> None:
    """Install every speed-up; refuses another Rasa release (extensions/rasa_patches.py)."""
    require_rasa_version("extensions/speedups.py")
    replace(RemoteAction, "_validate_action_result", _validate_action_result)
    replace(Event, "resolve_by_type", staticmethod(_resolve_event_type))
    replace(EndpointConfig, "session", _shared_session)
    threadpool_limits(limits=1, user_api="blas")  # a process-wide setting, kept
    replace(MessageProcessor, "_parse_message_with_graph", _parse_with_graph)
    replace(MessageProcessor, "parse_message", _parse_message)
