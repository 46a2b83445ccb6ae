"""The playground's ASGI app (Starlette): the page, its assets and its JSON API (``/api/info``, ``/api/tokenize``,
``/api/decode``, ``/api/generate`` as a server-sent-event stream, one event per word).

Safety is decided here: requests name tokenizers and models only from the server's own lists (no endpoint opens a
file a request names), bodies are read up to a limit, bad JSON gets a 4xx that says what was wrong, and generation
is bounded (new tokens, seconds, one run per client, cancelled when the client goes away). The generator is
injected, so this module never imports torch.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

import anyio
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from r2d.modeling.sampling_settings import sampling_problem
from r2d.serve.models import LoadedModel, default_generate_fn
from r2d.serve.views import decode_view, flag_label, tokenize_view
from r2d.tokenizer.arrays import invalid_decode_input

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]", "::1")
MODEL_HINT = ("No model loaded. Train a causal one and start the server with it, e.g.\n"
              "  r2d pretrain --objective clm --preset tiny --corpus FILE --out runs/clm\n"
              "  r2d serve --model runs/clm/model")
# subtle: the page runs only its own script; nothing inline, nothing from elsewhere
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

GenerateFn = Callable[..., Iterator[dict]]


class HTTPProblem(Exception):
    """A request the API refuses: an HTTP status and a message for the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def json_response(data: Any, status: int = 200) -> Response:
    """JSON with non-ASCII text as is; a text holding lone surrogates falls back to ``\\u`` escapes."""
    try:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:  # subtle: lone surrogates cannot be UTF-8; JSON escapes carry them
        body = json.dumps(data, separators=(",", ":")).encode("ascii")
    return Response(body, status_code=status, media_type="application/json")


def problem(status: int, message: str) -> Response:
    return json_response({"error": message, "status": status}, status)


def sse(event: str, data: Any) -> bytes:
    """One server-sent event: ``event: NAME`` and a one-line JSON ``data:``."""
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=True)}\n\n".encode("ascii")


class EventStream(StreamingResponse):
    """A server-sent-event response that stops when the client goes away and always runs ``on_close``.

    Unlike a plain ``StreamingResponse`` it watches for the disconnect whatever ASGI version the server
    speaks, and closes its iterator (so a running generation is cancelled between two words).
    """

    def __init__(self, content, *, on_close: Callable[[], None]):
        super().__init__(content, media_type="text/event-stream",
                         headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
        self.on_close = on_close

    async def __call__(self, scope, receive, send) -> None:
        try:
            async with anyio.create_task_group() as tg:
                async def stream() -> None:
                    try:
                        await self.stream_response(send)
                    except OSError:  # the client went away mid-write
                        log.info("generation stream: client disconnected")
                    finally:
                        tg.cancel_scope.cancel()

                tg.start_soon(stream)
                await self.listen_for_disconnect(receive)
                tg.cancel_scope.cancel()
        finally:
            with anyio.CancelScope(shield=True):
                await self.body_iterator.aclose()
            self.on_close()


# ---------------------------------------------------------------------------------------------- requests
async def read_json(request: Request, limit: int) -> dict:
    """The request's JSON object, read up to ``limit`` bytes.

    Raises:
        HTTPProblem: 413 when the body is larger than ``limit``; 400 when it is not a JSON object.
    """
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPProblem(413, f"request body is {int(declared):,} bytes; this server takes at most {limit:,}")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPProblem(413, f"request body is over {limit:,} bytes, the most this server takes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise HTTPProblem(400, "empty request body: send a JSON object")
    try:
        doc = json.loads(body.decode("utf-8"))
    except UnicodeDecodeError:
        raise HTTPProblem(400, "request body is not UTF-8") from None
    except json.JSONDecodeError as err:
        raise HTTPProblem(400, f"request body is not valid JSON: {err.msg} (line {err.lineno}, column {err.colno})")
    if not isinstance(doc, dict):
        raise HTTPProblem(400, f"request body must be a JSON object, got {_json_type(doc)}")
    return doc


def _json_type(x: Any) -> str:
    if x is None:
        return "null"
    return {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array",
            dict: "an object"}.get(type(x), type(x).__name__)


def field(doc: dict, name: str, kind: type | tuple[type, ...], what: str, *, default: Any = ..., nullable=False):
    """``doc[name]`` checked against ``kind``; 422 naming the field when it is missing or of the wrong type."""
    if name not in doc:
        if default is ...:
            raise HTTPProblem(422, f"missing field '{name}' ({what})")
        return default
    value = doc[name]
    if value is None and nullable:
        return None
    ok = isinstance(value, kind) and not (isinstance(value, bool) and bool not in _as_tuple(kind))
    if not ok:
        raise HTTPProblem(422, f"field '{name}' must be {what}, got {_json_type(value)}")
    return value


def _as_tuple(kind) -> tuple:
    return kind if isinstance(kind, tuple) else (kind,)


def _pick(name: str | None, table: Mapping[str, Any], what: str, option: str):
    if name is None:
        return next(iter(table.items()))
    if name not in table:
        raise HTTPProblem(422, f"unknown {what} {name!r}; this server has: {', '.join(table) or 'none'} "
                               f"(start it with {option} to add one)")
    return name, table[name]


# ---------------------------------------------------------------------------------------------- the app
def create_app(
    *,
    tokenizers: Mapping[str, Any],
    models: Mapping[str, LoadedModel] | None = None,
    generate_fn: GenerateFn | None = None,
    roberta=None,
    max_text_bytes: int = 1_000_000,
    max_new_tokens: int = 512,
    max_generate_seconds: float = 120.0,
    max_generations: int = 2,
    allowed_hosts: tuple[str, ...] | None = LOOPBACK_HOSTS,
) -> Starlette:
    """The playground app.

    Args:
        tokenizers: name -> ``R2DTokenizer``; the first is the page's default. Requests choose among these names.
        models: name -> ``LoadedModel`` (causal models for the generation panel); empty or ``None``: no panel.
        generate_fn: ``stream_generate(model, tokenizer, prompt, *, max_new_tokens, temperature, top_k, top_p,
            seed)`` yielding one ``{"text": ..., "rows": [{"root", "id", "flags"}]}`` per completed word
            (default: :func:`r2d.modeling.generation.stream_generate`, imported at the first generation).
        roberta: the baseline ``tokenizers.Tokenizer`` shown beside r2d (default: RoBERTa's, offline).
        max_text_bytes: the most UTF-8 bytes of text (or prompt) a request may carry; larger ones get 413.
        max_new_tokens: the cap on ``max_new_tokens`` a generation request may ask for.
        max_generate_seconds: a generation stops after this many seconds.
        max_generations: generations running at once, all clients together (each client runs one at a time).
        allowed_hosts: ``Host`` header values served (guards a loopback server against DNS rebinding);
            ``None`` serves any.

    Returns:
        A Starlette app; serve it with ``uvicorn.run(app, host=..., port=...)``.
    """
    if not tokenizers:
        raise ValueError("create_app needs at least one tokenizer")
    models = dict(models or {})
    generate_fn = generate_fn or default_generate_fn
    locks: dict[str, anyio.Lock] = {}  # one job per tokenizer at a time: its caches are not thread-safe
    body_limit = 6 * max_text_bytes + 65_536  # subtle: JSON may escape one byte of text as six (\u00e9)
    running: set[str] = set()  # client addresses with a generation in progress
    running_lock = threading.Lock()

    def check_text(text: str, name: str) -> None:
        n = len(text.encode("utf-8", "surrogatepass"))
        if n > max_text_bytes:
            raise HTTPProblem(413, f"field '{name}' is {n:,} bytes of text; this server takes at most "
                                   f"{max_text_bytes:,} (r2d serve --max-text-bytes)")

    async def run_locked(request: Request, key: str, fn, /, *args, **kwargs) -> Response:
        """``fn(*args, **kwargs)`` in a worker thread, one at a time per tokenizer, as JSON; skipped when the
        client has gone while it waited (the page drops a request when the text changes again)."""
        lock = locks.setdefault(key, anyio.Lock())  # subtle: created inside the event loop that uses it
        async with lock:
            if await request.is_disconnected():
                log.debug("%s: client gone before its turn", request.url.path)
                return Response(status_code=499)
            # the JSON too is made in the worker thread: megabytes for a long text, kept off the event loop
            return await run_in_threadpool(lambda: json_response(fn(*args, **kwargs)))

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)

    async def info(request: Request) -> Response:
        return json_response({
            "tokenizers": [{"name": n, "flags": [{"name": f, "label": flag_label(f)} for f in t.flag_names]}
                           for n, t in tokenizers.items()],
            "models": [{"name": n, "flags": list(getattr(m.tokenizer, "flag_names", ())), "device": m.device or None}
                       for n, m in models.items()],
            "model_hint": None if models else MODEL_HINT,
            "limits": {"max_text_bytes": max_text_bytes, "max_new_tokens": max_new_tokens},
        })

    async def tokenize(request: Request) -> Response:
        doc = await read_json(request, body_limit)
        text = field(doc, "text", str, "a string")
        check_text(text, "text")
        name, tok = _pick(field(doc, "tokenizer", str, "a tokenizer name", default=None, nullable=True),
                          tokenizers, "tokenizer", "--tokenizer")

        return await run_locked(request, name, tokenize_view, tok, text, name=name, roberta=roberta)

    async def decode(request: Request) -> Response:
        doc = await read_json(request, body_limit)
        ids = field(doc, "input_ids", list, "a list of integer ids")
        if not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
            raise HTTPProblem(422, "field 'input_ids' must hold integers only")
        name, tok = _pick(field(doc, "tokenizer", str, "a tokenizer name", default=None, nullable=True),
                          tokenizers, "tokenizer", "--tokenizer")
        flags = field(doc, "flags", list, f"a list of {len(ids)} rows of {tok.num_flags} numbers",
                      default=None, nullable=True)
        if flags is not None:
            if len(flags) != len(ids):
                raise HTTPProblem(422, f"field 'flags' has {len(flags)} rows for {len(ids)} ids")
            for k, row in enumerate(flags):
                if (not isinstance(row, list) or len(row) != tok.num_flags
                        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in row)):
                    raise HTTPProblem(422, f"flags[{k}] must be {tok.num_flags} numbers "
                                           f"({', '.join(tok.flag_names)})")
        invalid = invalid_decode_input(ids, flags, tok.vocab_size)
        if invalid is not None:
            raise HTTPProblem(422, ": ".join(invalid))  # where, then what is wrong
        skip = field(doc, "skip_special_tokens", bool, "true or false", default=True)

        return await run_locked(request, name, decode_view, tok, ids, flags, skip_special_tokens=skip)

    async def generate(request: Request) -> Response:
        doc = await read_json(request, body_limit)
        if not models:
            raise HTTPProblem(404, MODEL_HINT)
        prompt = field(doc, "prompt", str, "a string")
        check_text(prompt, "prompt")
        name, loaded = _pick(field(doc, "model", str, "a model name", default=None, nullable=True),
                             models, "model", "--model")
        n_new = field(doc, "max_new_tokens", int, "an integer", default=min(64, max_new_tokens))
        if not 1 <= n_new <= max_new_tokens:
            raise HTTPProblem(422, f"field 'max_new_tokens' must be between 1 and {max_new_tokens}, got {n_new}")
        temperature = float(field(doc, "temperature", (int, float), "a number", default=1.0))
        top_k = field(doc, "top_k", int, "an integer or null", default=None, nullable=True)
        top_p = field(doc, "top_p", (int, float), "a number or null", default=None, nullable=True)
        bad = sampling_problem(temperature=temperature, top_k=top_k, top_p=top_p)
        if bad:
            name, rule, _ = bad
            raise HTTPProblem(422, f"field '{name}' {rule}" + ("" if name == "temperature" else " or null"))
        seed = field(doc, "seed", int, "an integer or null", default=None, nullable=True)
        client = request.client.host if request.client else "unknown"
        with running_lock:
            if client in running:
                raise HTTPProblem(429, "a generation is already running for this client; stop it first")
            if len(running) >= max_generations:
                raise HTTPProblem(429, f"the server is busy: {len(running)} generations are running; try again soon")
            running.add(client)
        kwargs = dict(max_new_tokens=n_new, temperature=temperature, top_k=top_k,
                      top_p=None if top_p is None else float(top_p), seed=seed)
        events = _generation_events(generate_fn, loaded, prompt, kwargs, name, max_generate_seconds)

        def release() -> None:
            with running_lock:
                running.discard(client)

        return EventStream(events, on_close=release)

    async def api_not_found(request: Request) -> Response:
        if request.url.path in ("/api/tokenize", "/api/decode", "/api/generate"):
            return problem(405, f"{request.url.path} takes POST with a JSON body, not {request.method}")
        return problem(404, f"no such endpoint: {request.method} {request.url.path} "
                            "(see /api/info, /api/tokenize, /api/decode, /api/generate)")

    def guarded(endpoint):
        async def wrapped(request: Request) -> Response:
            try:
                return await endpoint(request)
            except HTTPProblem as p:
                return problem(p.status, p.message)
        return wrapped

    routes = [
        Route("/", index),
        Route("/api/info", guarded(info)),
        Route("/api/tokenize", guarded(tokenize), methods=["POST"]),
        Route("/api/decode", guarded(decode), methods=["POST"]),
        Route("/api/generate", guarded(generate), methods=["POST"]),
        Route("/api/{rest:path}", api_not_found, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    middleware = [Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))] if allowed_hosts else []
    return Starlette(routes=routes, middleware=middleware)


async def _generation_events(generate_fn: GenerateFn, loaded: LoadedModel, prompt: str, kwargs: dict,
                             name: str, max_seconds: float):
    """The SSE stream of one generation: ``start``, one ``word`` per completed word, then ``done`` or ``error``.

    ``done`` says why it ended: ``"end"`` (the generator finished: ``</s>`` or its row budget),
    ``"max_new_tokens"`` (as many words as rows were allowed) or ``"time_limit"``.

    The (blocking) generator runs one word at a time in a worker thread; closing this stream between two
    words (client gone, limit reached) closes the generator.
    """
    sentinel = object()
    t0 = time.monotonic()
    words, reason = 0, "end"
    it = None
    yield sse("start", {"model": name, "prompt": prompt, **kwargs})
    try:
        it = iter(generate_fn(loaded.model, loaded.tokenizer, prompt, **kwargs))
        while True:
            word = await anyio.to_thread.run_sync(next, it, sentinel)
            if word is sentinel:
                break
            words += 1
            yield sse("word", {"text": str(word.get("text", "")), "rows": list(word.get("rows", []))})
            if words >= kwargs["max_new_tokens"]:  # each word has at least one row: a misbehaving generator stops
                reason = "max_new_tokens"
                break
            if time.monotonic() - t0 > max_seconds:
                reason = "time_limit"
                break
    except Exception as err:  # a generator failure ends this stream, not the server
        log.exception("generation failed")
        yield sse("error", {"error": f"generation failed: {type(err).__name__}: {err}"})
        return
    finally:
        if it is not None and hasattr(it, "close"):
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(it.close)
    yield sse("done", {"reason": reason, "words": words, "seconds": round(time.monotonic() - t0, 3)})
