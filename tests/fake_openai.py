"""A fake OpenAI-compatible HTTP server for tests and benchmarks.

It runs in a thread on 127.0.0.1 and speaks real HTTP, so the real `openai` SDK talks to it
through `base_url` exactly as it talks to api.openai.com. It:

- answers POST /v1/chat/completions with JSON that satisfies the request's `json_schema`
  (or docgen's envelope for `json_object`), filling the key the last message asks for;
- reports `usage` (prompt, completion, and `cached_tokens` for prompt prefixes it has seen
  before, the way OpenAI's prompt cache does: >= 1024 tokens, in 128-token steps);
- records every request, and every usage it reported, for assertions;
- scripts faults: queued for the next requests (`enqueue`) or by rule (`add_rule`):
  429 with Retry-After, 401 echoing the key, 500, quota, delay/timeout, broken JSON,
  schema-violating JSON, finish_reason length and content_filter, an HTTP 200 HTML page
  (non_json) and impossible usage counts (bad_usage);
- optionally adds latency to every answer and enforces RPM/TPM limits with 429s;
- behaves like a small local model server when asked (`Behaviour`): refuses json_schema
  with a 500, ignores `max_completion_tokens`, has one slot and keeps computing requests the
  client abandoned (counted in `stats()`), answers without the envelope, copies the prompt's
  reference examples, or cites code the object does not have.

By default its answers are grounded: codeBlock / codeReference quote lines of the object's
code (taken from the context message), so docgen's grounding check accepts them.

    with FakeOpenAI() as server:
        server.enqueue(Fault.rate_limit(retry_after=1))
        OpenAI(base_url=server.base_url, api_key="sk-test").chat.completions.create(...)
"""

from __future__ import annotations

import hashlib
import json
import re
import select
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from docgen.layers import ENVELOPE_KEYS, LAYERS, envelope_schema
from docgen.pricing import estimate_tokens
from tests.fake_batches import FakeBatches

CACHE_MINIMUM = 1024
CACHE_STEP = 128


@dataclass
class Fault:
    kind: str
    retry_after: float | None = None
    delay: float = 0.0
    status: int | None = None

    @classmethod
    def rate_limit(cls, retry_after: float | None = 1) -> Fault:
        return cls("rate_limit", retry_after=retry_after)

    @classmethod
    def quota(cls) -> Fault:
        return cls("quota")

    @classmethod
    def auth(cls, status: int = 401) -> Fault:
        return cls("auth", status=status)

    @classmethod
    def server_error(cls, status: int = 500) -> Fault:
        return cls("server_error", status=status)

    @classmethod
    def timeout(cls, delay: float = 5.0) -> Fault:
        return cls("timeout", delay=delay)

    @classmethod
    def broken_json(cls) -> Fault:
        return cls("broken_json")

    @classmethod
    def schema_violation(cls) -> Fault:
        return cls("schema_violation")

    @classmethod
    def length(cls) -> Fault:
        return cls("length")

    @classmethod
    def content_filter(cls) -> Fault:
        return cls("content_filter")

    @classmethod
    def azure_content_filter(cls) -> Fault:
        """Azure's answer to a prompt its content filter stops: 400, code content_filter."""
        return cls("azure_content_filter", status=400)

    @classmethod
    def non_json(cls) -> Fault:
        """HTTP 200 with an HTML page (a proxy in front of the model, misbehaving)."""
        return cls("non_json")

    @classmethod
    def bad_usage(cls) -> Fault:
        """A valid answer whose usage says prompt_tokens=-5 (not counted as reported)."""
        return cls("bad_usage")


@dataclass
class Behaviour:
    """How a local model server misbehaves (all off by default)."""

    #: answer json_schema requests with this status and a validation error naming it
    refuse_json_schema: int | None = None
    #: generate past `max_completion_tokens` (honour `max_tokens` only), 4x the cap
    ignore_max_completion_tokens: bool = False
    #: ignore `max_tokens` too (a runaway whatever the client asks)
    ignore_max_tokens: bool = False
    #: requests computed at the same time; more wait; abandoned ones still run to the end
    slots: int | None = None
    #: generation speed: an answer takes completion_tokens / this seconds (with a slot held)
    tokens_per_second: float | None = None
    #: answer the layer's own shape, without the envelope key
    no_envelope: bool = False
    #: answer with the reference example of the instruction, copied
    copy_examples: bool = False
    #: cite code the object does not have (codeBlock / codeReference / column names)
    invented_code: bool = False


#: what an invented answer cites (the reference example small models copied in the wild)
INVENTED_CODE = "where refund_amount = 0"


@dataclass
class Rule:
    predicate: Callable[[dict[str, Any]], bool]
    fault: Fault
    times: int | None = None  # None: forever


@dataclass
class Recorded:
    body: dict[str, Any]
    headers: dict[str, str]
    status: int = 200
    usage: dict[str, int] | None = None
    requested_key: str | None = None
    fault: str | None = None
    started: float = 0.0
    finished: float = 0.0


def requested_key(body: dict[str, Any]) -> str | None:
    """The envelope key the last message asks for ("Fill transformationCards only")."""
    for message in reversed(body.get("messages") or []):  # a repair turn comes after it
        match = re.search(r"Fill (\w+) only", str(message.get("content", "")))
        if match:
            return match.group(1)
    return None


def prompt_text(body: dict[str, Any]) -> str:
    """What the model reads, in order: the response schema first (as OpenAI does), then
    the messages. Prefix caching and token counts are computed over this."""
    schema = (body.get("response_format") or {}).get("json_schema")
    parts = [json.dumps(schema, sort_keys=True) if schema else ""]
    for message in body.get("messages") or []:
        parts.append(f"<|{message.get('role')}|>{message.get('content')}")
    return "\n".join(parts)


# --- schema-satisfying answers -------------------------------------------------------------

_WORDS = (
    "Completed orders are combined with payments so finance sees the revenue that was "
    "actually collected for each customer and month"
).split()


def _text(label: str, index: int) -> str:
    start = (index * 3) % len(_WORDS)
    words = (_WORDS[start:] + _WORDS[:start])[:10]
    return f"{label}: " + " ".join(words) + "."


class Generator:
    """Builds an instance of a JSON schema, filling only `wanted` among nullable properties."""

    def __init__(self, schema: dict[str, Any], wanted: str | None, text: Callable[[str, int], str]):
        self.root = schema
        self.wanted = wanted
        self.text = text

    def _resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            node = self.root.get("$defs", {})[name]
        return node

    def build(
        self, node: dict[str, Any], name: str = "value", index: int = 0, top: bool = False
    ) -> Any:
        node = self._resolve(node)
        if "anyOf" in node:
            options = [self._resolve(o) for o in node["anyOf"]]
            non_null = [o for o in options if o.get("type") != "null"]
            nullable = len(non_null) < len(options)
            if top and nullable and self.wanted is not None and name != self.wanted:
                return None
            return self.build(non_null[0], name, index) if non_null else None
        kind = node.get("type")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object":
            return {
                key: self.build(sub, key, index, top=node is self.root)
                for key, sub in node.get("properties", {}).items()
            }
        if kind == "array":
            count = max(node.get("minItems", 0), min(3, node.get("maxItems", 3)))
            return [self.build(node.get("items", {}), name, i) for i in range(count)]
        if kind == "integer":
            return max(node.get("minimum", 1), index + 1)
        if kind == "number":
            return float(node.get("minimum", 1))
        if kind == "boolean":
            return True
        if kind == "null":
            return None
        return self.text(name, index)


# --- the server ----------------------------------------------------------------------------


@dataclass
class _Limits:
    """OpenAI-style limits: buckets of a minute's allowance, refilled continuously."""

    rpm: int | None = None
    tpm: int | None = None
    requests: float = 0.0
    tokens: float = 0.0
    updated: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.requests = float(self.rpm or 0)
        self.tokens = float(self.tpm or 0)


class FakeOpenAI:
    def __init__(self, *, model: str = "gpt-4o", latency: float = 0.0) -> None:
        self.model = model
        self.latency = latency
        self.requests: list[Recorded] = []
        self.queue: deque[Fault] = deque()
        self.rules: list[Rule] = []
        self.content_for: Callable[[str | None, dict[str, Any]], dict[str, Any] | None] | None = (
            None
        )
        self.text_for: Callable[[str, int], str] = _text
        self._lock = threading.Lock()
        self._prefixes: deque[str] = deque(maxlen=512)
        self._limits = _Limits()
        self.rejected = 0  # requests refused by the RPM/TPM limits
        self.accepted_tokens = 0  # tokens counted against the TPM limit
        self.behaviour = Behaviour()
        #: Azure OpenAI routes: /openai/deployments/{name}/chat/completions?api-version=...
        #: answer for these deployment names (others: 404 DeploymentNotFound)
        self.azure_deployments: set[str] = {"docgen-gpt4o"}
        #: the Batch API (tests/fake_batches.py) and the chat completions it answered
        self.batch_requests: list[Recorded] = []
        self.batches = FakeBatches(self)
        self._slots: threading.Semaphore | None = None
        self.abandoned = 0  # answers computed for a client that had gone away
        self.abandoned_tokens = 0  # prompt + completion tokens of those answers
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    @property
    def origin(self) -> str:
        """http://127.0.0.1:PORT, what an Azure client takes as its endpoint."""
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> FakeOpenAI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- scripting -------------------------------------------------------------------------

    def enqueue(self, *faults: Fault) -> None:
        with self._lock:
            self.queue.extend(faults)

    def add_rule(
        self, predicate: Callable[[dict[str, Any]], bool], fault: Fault, times: int | None = None
    ) -> Rule:
        rule = Rule(predicate, fault, times)
        with self._lock:
            self.rules.append(rule)
        return rule

    def set_limits(self, *, rpm: int | None = None, tpm: int | None = None) -> None:
        """Enforce requests/tokens per minute (a request costs its prompt tokens plus its
        max_completion_tokens, as OpenAI counts); over the limit: 429 with Retry-After."""
        with self._lock:
            self._limits = _Limits(rpm, tpm)
            self.rejected = 0
            self.accepted_tokens = 0

    def behave(self, **changes: Any) -> Behaviour:
        """Switch local-server behaviours on (`behave(slots=1, tokens_per_second=8)`)."""
        with self._lock:
            self.behaviour = Behaviour(**{**self.behaviour.__dict__, **changes})
            slots = self.behaviour.slots
            self._slots = threading.Semaphore(slots) if slots else None
            return self.behaviour

    def reset(self) -> None:
        with self._lock:
            self.behaviour = Behaviour()
            self._slots = None
            self.abandoned = 0
            self.abandoned_tokens = 0
            self.requests.clear()
            self.queue.clear()
            self.rules.clear()
            self._prefixes.clear()
            self._limits = _Limits()
            self.content_for = None
            self.text_for = _text
            self.azure_deployments = {"docgen-gpt4o"}
            self.batch_requests.clear()
            self.latency = 0.0
        self.batches.reset()

    def configure(
        self,
        *,
        reset: bool = False,
        latency: float | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        faults: list[dict[str, Any]] | None = None,
        behaviour: dict[str, Any] | None = None,
        batch_delay: float | None = None,
    ) -> None:
        """What the /_admin/config endpoint sets (for a server in another process)."""
        if reset:
            self.reset()
        if batch_delay is not None:
            self.batches.delay = batch_delay
        if behaviour:
            self.behave(**behaviour)
        if latency is not None:
            self.latency = latency
        if rpm is not None or tpm is not None:
            self.set_limits(rpm=rpm, tpm=tpm)
        for fault in faults or []:
            self.enqueue(Fault(**fault))

    def stats(self) -> dict[str, Any]:
        """Counts and usage so far (the /_admin/stats endpoint)."""
        with self._lock:
            records = list(self.requests)
        statuses: dict[str, int] = {}
        for record in records:
            statuses[str(record.status)] = statuses.get(str(record.status), 0) + 1
        return {
            "requests": len(records),
            "statuses": statuses,
            "rejected_by_limits": self.rejected,
            "accepted_tokens": self.accepted_tokens,
            "usage": self.reported_usage(),
            "abandoned_requests": self.abandoned,
            "abandoned_tokens": self.abandoned_tokens,
            **self.batches.stats(),
            "batch_lines_answered": len(self.batch_requests),
            "first_started": min((r.started for r in records), default=None),
            "last_finished": max((r.finished for r in records), default=None),
        }

    # -- what happened -----------------------------------------------------------------------

    @property
    def completions(self) -> list[Recorded]:
        return [r for r in self.requests if r.body.get("messages") is not None]

    def reported_usage(self) -> dict[str, int]:
        """Sum of the usage this server reported (what docgen must have recorded)."""
        total = {"prompt_tokens": 0, "completion_tokens": 0, "cached_tokens": 0}
        for record in [*self.requests, *self.batch_requests]:
            if record.usage:
                for key in total:
                    total[key] += record.usage.get(key, 0)
        return total

    # -- internals -------------------------------------------------------------------------

    def _pick_fault(self, body: dict[str, Any]) -> Fault | None:
        with self._lock:
            for rule in self.rules:
                if rule.times == 0:
                    continue
                if rule.predicate(body):
                    if rule.times is not None:
                        rule.times -= 1
                    return rule.fault
            if self.queue:
                return self.queue.popleft()
        return None

    def _cached_tokens(self, text: str) -> int:
        with self._lock:
            best = 0
            for seen in self._prefixes:
                limit = min(len(seen), len(text))
                if limit <= best:
                    continue
                i = 0
                step = 256
                while i < limit and seen[i : i + step] == text[i : i + step]:
                    i += step
                while i < limit and seen[i] == text[i]:
                    i += 1
                best = max(best, i)
            self._prefixes.append(text)
        tokens = estimate_tokens(text[:best])
        if tokens < CACHE_MINIMUM:
            return 0
        return tokens - tokens % CACHE_STEP

    def _over_limit(self, tokens: int) -> float | None:
        """Seconds until the request would fit the RPM/TPM buckets, or None if it fits now
        (and is then counted)."""
        with self._lock:
            limits = self._limits
            if limits.rpm is None and limits.tpm is None:
                return None
            now = time.monotonic()
            elapsed, limits.updated = now - limits.updated, now
            if limits.rpm:
                limits.requests = min(limits.rpm, limits.requests + elapsed * limits.rpm / 60)
            if limits.tpm:
                limits.tokens = min(limits.tpm, limits.tokens + elapsed * limits.tpm / 60)
            short_requests = 1 - limits.requests if limits.rpm else 0.0
            short_tokens = tokens - limits.tokens if limits.tpm else 0.0
            if short_requests > 0 or short_tokens > 0:
                self.rejected += 1
                return max(
                    0.05,
                    short_requests * 60 / limits.rpm if limits.rpm else 0.0,
                    short_tokens * 60 / limits.tpm if limits.tpm else 0.0,
                )
            if limits.rpm:
                limits.requests -= 1
            if limits.tpm:
                limits.tokens -= tokens
            self.accepted_tokens += tokens
            return None

    def answer_content(self, body: dict[str, Any], key: str | None) -> dict[str, Any]:
        if self.content_for is not None:
            custom = self.content_for(key, body)
            if custom is not None:
                return custom
        behaviour = self.behaviour
        if behaviour.copy_examples and key is not None:
            return copied_example(body, key)
        response_format = body.get("response_format") or {}
        schema = (response_format.get("json_schema") or {}).get("schema") or envelope_schema()
        # like a model, answer differently for different code: the text carries a short
        # digest of the object's context message
        messages = body.get("messages") or []
        context = str(messages[1].get("content", "")) if len(messages) > 1 else ""
        digest = hashlib.sha256(context.encode()).hexdigest()[:8]
        lines = code_lines(context)

        def text(label: str, index: int) -> str:
            if label in ("codeBlock", "codeReference"):
                if behaviour.invented_code or not lines:
                    return INVENTED_CODE
                return lines[index % len(lines)]
            if behaviour.invented_code and label == "rule":
                return f"Orders with refund_amount above zero are not revenue (ref {digest})."
            return f"{self.text_for(label, index)[:-1]} (ref {digest})."

        answer = Generator(schema, key, text).build(schema, top=True)
        if behaviour.no_envelope and key is not None:
            return without_envelope(answer, key)
        return answer

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                return None

            def _send(
                self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
            ) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def send_raw(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("content-type", content_type)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def do_GET(self) -> None:  # noqa: N802
                batch_route = FakeBatches.route(self.path)
                if batch_route is not None:
                    server.batches.get(self, batch_route)
                    return
                if self.path.startswith("/_admin/stats"):
                    self._send(200, server.stats())
                    return
                if self.path.split("?", 1)[0].rstrip("/").endswith("/models"):
                    self._send(
                        200,
                        {
                            "object": "list",
                            "data": [{"id": server.model, "object": "model", "owned_by": "fake"}],
                        },
                    )
                else:
                    self._send(404, {"error": {"message": "not found", "type": "not_found"}})

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                batch_route = FakeBatches.route(self.path)
                if batch_route is not None:
                    server.batches.post(self, batch_route, raw)
                    return
                try:
                    body = json.loads(raw or b"{}")
                except json.JSONDecodeError:
                    self._send(400, {"error": {"message": "invalid JSON body"}})
                    return
                if self.path.startswith("/_admin/config"):
                    server.configure(**body)
                    self._send(200, server.stats())
                    return
                if self.path.startswith("/openai/") and not server._azure_route(self):
                    return
                record = Recorded(
                    body=body, headers=dict(self.headers.items()), started=time.monotonic()
                )
                with server._lock:
                    server.requests.append(record)
                try:
                    server._respond(self, body, record)
                finally:
                    record.finished = time.monotonic()

        return Handler

    def _respond(self, handler: Any, body: dict[str, Any], record: Recorded) -> None:
        key = requested_key(body)
        record.requested_key = key
        api_key = (handler.headers.get("authorization") or "").removeprefix("Bearer ").strip()
        api_key = api_key or (handler.headers.get("api-key") or "").strip()
        fault = self._pick_fault(body)
        record.fault = fault.kind if fault else None
        if fault is not None and fault.kind == "timeout":
            time.sleep(fault.delay)
        elif self.latency:
            time.sleep(self.latency)
        if fault is not None and fault.kind == "not_found":
            record.status = 404
            handler._send(
                404,
                {
                    "error": {
                        "message": f"The model `{body.get('model')}` does not exist.",
                        "type": "invalid_request_error",
                        "code": "model_not_found",
                    }
                },
            )
            return
        if fault is not None and fault.kind == "azure_content_filter":
            record.status = 400
            handler._send(400, AZURE_CONTENT_FILTERED)
            return
        if fault is not None and fault.kind in ("rate_limit", "quota", "auth", "server_error"):
            record.status = self._error(handler, fault, api_key)
            return
        if fault is not None and fault.kind == "non_json":
            handler.send_raw(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
            return
        refuse = self.behaviour.refuse_json_schema
        if refuse and (body.get("response_format") or {}).get("type") == "json_schema":
            # what llama.cpp's server says (HTTP 500, the cause on the second line)
            record.status = refuse
            handler._send(
                refuse,
                {
                    "error": {
                        "code": refuse,
                        "message": "1 validation error:\n  response_format.json_schema: "
                        "unsupported schema feature (strict)",
                        "type": "server_error" if refuse >= 500 else "invalid_request_error",
                    }
                },
            )
            return
        text = prompt_text(body)
        prompt_tokens = estimate_tokens(text)
        wait = self._over_limit(prompt_tokens + int(body.get("max_completion_tokens") or 0))
        if wait is not None:
            record.status = 429
            handler._send(
                429,
                {
                    "error": {
                        "message": f"Rate limit reached for {self.model}. "
                        f"Please try again in {wait:.2f}s.",
                        "type": "requests",
                        "code": "rate_limit_exceeded",
                    }
                },
                {"retry-after-ms": str(int(wait * 1000)), "retry-after": str(max(1, round(wait)))},
            )
            return
        cached = self._cached_tokens(text)
        finish_reason = "stop"
        content_obj = self.answer_content(body, key)
        content = json.dumps(content_obj)
        if fault is not None and fault.kind == "broken_json":
            content = content[: max(10, len(content) // 2)]
        elif fault is not None and fault.kind == "schema_violation":
            content = json.dumps({k: ("oops" if k == key else None) for k in content_obj})
        elif fault is not None and fault.kind == "length":
            content = content[: max(10, len(content) // 3)]
            finish_reason = "length"
        elif fault is not None and fault.kind == "content_filter":
            content = ""
            finish_reason = "content_filter"
        completion_tokens = estimate_tokens(content) if content else 0
        cap = int(body.get("max_completion_tokens") or 0)
        ignored = self.behaviour.ignore_max_tokens or "max_tokens" not in body
        if self.behaviour.ignore_max_completion_tokens and cap and ignored:
            completion_tokens = max(completion_tokens, cap * 4)  # it rambles on past the cap
        else:
            # a server stops at the smallest cap it honours (finish_reason length)
            honoured = [
                int(body[k]) for k in ("max_tokens", "max_completion_tokens") if body.get(k)
            ]
            if honoured and completion_tokens > min(honoured):
                completion_tokens = min(honoured)
                content = content[: max(1, completion_tokens * 3)]
                finish_reason = "length"
        if self._generate_slowly(
            handler, record, prompt_tokens + completion_tokens, completion_tokens
        ):
            return
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": cached},
        }
        if fault is not None and fault.kind == "bad_usage":
            usage["prompt_tokens"] = -5
        elif fault is None or fault.kind != "timeout":
            # a timed-out client never sees this usage, so it does not count as reported
            record.usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "cached_tokens": cached,
            }
        handler._send(
            200,
            {
                "id": f"chatcmpl-fake-{len(self.requests)}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model") or self.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": content or None,
                            "refusal": None,
                        },
                        "finish_reason": finish_reason,
                    }
                ],
                "usage": usage,
            },
        )

    def _azure_route(self, handler: Any) -> bool:
        """Check an Azure OpenAI request the way Azure does (api-version query parameter,
        `api-key` header, a known deployment); False once it has been answered with an
        error."""
        path, _, query = handler.path.partition("?")
        if "api-version=" not in query:
            handler._send(404, {"error": {"code": "404", "message": "Resource not found"}})
            return False
        if not handler.headers.get("api-key"):
            handler._send(
                401,
                {
                    "error": {
                        "code": "401",
                        "message": "Access denied due to missing subscription key.",
                    }
                },
            )
            return False
        match = re.match(r"^/openai/deployments/([^/]+)/", path)
        if match and match.group(1) not in self.azure_deployments:
            handler._send(
                404,
                {
                    "error": {
                        "code": "DeploymentNotFound",
                        "message": "The API deployment for this resource does not exist. If "
                        "you created the deployment within the last 5 minutes, please wait "
                        "a moment and try again.",
                    }
                },
            )
            return False
        return True

    def _generate_slowly(
        self, handler: Any, record: Recorded, tokens: int, completion_tokens: int
    ) -> bool:
        """Spend the generation time (holding a slot when there are few); True when the
        client went away meanwhile (the answer is computed for nobody)."""
        speed = self.behaviour.tokens_per_second
        slots = self._slots
        if not speed and slots is None:
            return False
        if slots is not None:
            slots.acquire()
        try:
            if speed:
                time.sleep(completion_tokens / speed)
        finally:
            if slots is not None:
                slots.release()
        if _client_gone(handler):
            with self._lock:
                self.abandoned += 1
                self.abandoned_tokens += tokens
            record.status = 499
            return True
        return False

    def _error(self, handler: Any, fault: Fault, api_key: str) -> int:
        if fault.kind == "rate_limit":
            headers = {}
            if fault.retry_after is not None:
                headers["retry-after"] = str(fault.retry_after)
            handler._send(
                429,
                {
                    "error": {
                        "message": f"Rate limit reached for {self.model} on requests "
                        "per min (RPM).",
                        "type": "requests",
                        "code": "rate_limit_exceeded",
                    }
                },
                headers,
            )
            return 429
        if fault.kind == "quota":
            handler._send(
                429,
                {
                    "error": {
                        "message": "You exceeded your current quota, please check your plan.",
                        "type": "insufficient_quota",
                        "code": "insufficient_quota",
                    }
                },
            )
            return 429
        if fault.kind == "auth":
            status = fault.status or 401
            # real servers echo (part of) the key; this one echoes all of it, on purpose
            handler._send(
                status,
                {
                    "error": {
                        "message": f"Incorrect API key provided: {api_key}. You can find "
                        "your API key at https://platform.openai.com/account/api-keys.",
                        "type": "invalid_request_error",
                        "code": "invalid_api_key",
                    }
                },
            )
            return status
        status = fault.status or 500
        handler._send(
            status,
            {
                "error": {
                    "message": "The server had an error while processing your request.",
                    "type": "server_error",
                    "code": None,
                }
            },
        )
        return status


#: Azure's 400 for a prompt its content filter stopped
AZURE_CONTENT_FILTERED: dict[str, Any] = {
    "error": {
        "message": "The response was filtered due to the prompt triggering Azure OpenAI's "
        "content management policy.",
        "type": None,
        "param": "prompt",
        "code": "content_filter",
        "status": 400,
        "innererror": {"code": "ResponsibleAIPolicyViolation"},
    }
}


def _client_gone(handler: Any) -> bool:
    """True when the client closed the connection (it timed out and left)."""
    sock = handler.connection
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def code_lines(context: str) -> list[str]:
    """Lines of the object's code in the context message, the ones worth quoting."""
    if "<code>" not in context:
        return []
    code = context.split("<code>", 1)[1].split("</code>", 1)[0]
    return [line.strip() for line in code.splitlines() if len(line.strip()) >= 8]


def _layer_of(key: str) -> str:
    return next(layer for layer, name in ENVELOPE_KEYS.items() if name == key)


def without_envelope(answer: dict[str, Any], key: str) -> dict[str, Any]:
    """The requested layer in its own shape: {"whatItDoes": ...} for the narrative,
    {"cards": [...]} for a list layer, {"summary": "..."} for the summary."""
    spec = LAYERS[_layer_of(key)]  # type: ignore[index]
    value = answer[key]
    if not spec.is_json:
        return {"summary": value}
    return {spec.list_key: value} if spec.list_key else value


def copied_example(body: dict[str, Any], key: str) -> dict[str, Any]:
    """The envelope filled with the reference example of the instruction, as a small model
    copies it (repeated to the layer's minimum count for list layers)."""
    marker = "(do not copy):"
    contents = [str(m.get("content", "")) for m in body.get("messages") or []]
    last = next((c for c in reversed(contents) if marker in c), "")
    example: Any = None
    if marker in last:
        try:
            example = json.loads(last.split(marker, 1)[1].strip().splitlines()[0])
        except (json.JSONDecodeError, IndexError):
            example = None
    spec = LAYERS[_layer_of(key)]  # type: ignore[index]
    if spec.list_key and isinstance(example, dict):
        count = spec.model.model_fields[spec.list_key].metadata[0].min_length
        items = [dict(example) for _ in range(count)]
        for number, item in enumerate(items, 1):
            if "stepNumber" in item:
                item["stepNumber"] = number
        example = items
    answer: dict[str, Any] = dict.fromkeys(ENVELOPE_KEYS.values())
    answer[key] = example
    return answer


def main() -> None:
    """`python -m tests.fake_openai [--port N] [--latency S]`: serve until killed; prints the
    base URL on its first line of stdout."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency", type=float, default=0.0)
    args = parser.parse_args()
    server = FakeOpenAI(latency=args.latency)
    if args.port:
        server._server.server_close()
        server._server = ThreadingHTTPServer(("127.0.0.1", args.port), server._handler())
        server._server.daemon_threads = True
    print(server.base_url, flush=True)
    server._server.serve_forever()


if __name__ == "__main__":
    main()
