"""The files and batches endpoints of the fake OpenAI server (OpenAI's Batch API).

- POST /v1/files (multipart, purpose=batch) stores a file; GET /v1/files/{id}/content
  returns it (batch input, output and error files);
- POST /v1/batches creates a batch from an uploaded JSONL file; GET /v1/batches/{id}
  retrieves it, GET /v1/batches lists them (newest first), POST /v1/batches/{id}/cancel
  cancels it;
- a batch is `validating`, then `in_progress` with growing request counts, and after
  `delay` seconds `completed`: every line is answered by the same code that answers a
  synchronous chat completion (faults and behaviours apply), kept apart from the synchronous
  requests (`FakeOpenAI.completions` counts only those) in `FakeOpenAI.batch_requests`;
- `fail_ids`: custom_ids whose line fails (status 500 in the error file), as expired or
  failed lines do; Azure's /openai/files and /openai/batches routes are the same endpoints;
- what a client did, to measure "never submitted twice" directly: `submissions` (custom_id
  -> batches created with that line) and `polls` (batch ids retrieved, in order).
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fake_openai import FakeOpenAI


@dataclass
class _Capture:
    """Stands in for the HTTP handler when a batch line is answered."""

    headers: dict[str, str]
    status: int = 0
    payload: dict[str, Any] = field(default_factory=dict)
    connection: Any = None

    def _send(
        self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None
    ) -> None:
        self.status, self.payload = status, payload


@dataclass
class FakeBatch:
    id: str
    input_file_id: str
    metadata: dict[str, str]
    created: float
    api_key: str
    status: str = "validating"
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    total: int = 0

    def body(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": "/v1/chat/completions",
            "errors": None,
            "input_file_id": self.input_file_id,
            "completion_window": "24h",
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": int(self.created),
            "request_counts": {
                "total": self.total,
                "completed": self.completed,
                "failed": self.failed,
            },
            "metadata": self.metadata,
        }


class FakeBatches:
    def __init__(self, server: FakeOpenAI) -> None:
        self.server = server
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, FakeBatch] = {}
        #: seconds from creation until a batch is completed
        self.delay = 0.5
        self.fail_ids: set[str] = set()
        self.created = 0
        self.cancelled = 0
        #: custom_id -> how many created batches held that line
        self.submissions: dict[str, int] = {}
        #: batch ids retrieved (GET /batches/{id}), in order
        self.polls: list[str] = []
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self.files.clear()
            self.batches.clear()
            self.delay = 0.5
            self.fail_ids = set()
            self.created = 0
            self.cancelled = 0
            self.submissions = {}
            self.polls = []

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {
                "batches_created": self.created,
                "batches_cancelled": self.cancelled,
                "batch_lines_submitted": sum(self.submissions.values()),
                "batch_lines_submitted_twice": sum(1 for n in self.submissions.values() if n > 1),
                "batch_polls": list(self.polls),
            }

    # -- routing -----------------------------------------------------------------------------

    @staticmethod
    def route(path: str) -> list[str] | None:
        """['files', ...] or ['batches', ...] for a files/batches path, else None."""
        bare = path.split("?", 1)[0]
        for prefix in ("/v1/", "/openai/"):
            if bare.startswith(prefix):
                parts = bare[len(prefix) :].strip("/").split("/")
                if parts and parts[0] in ("files", "batches"):
                    return parts
        return None

    def get(self, handler: Any, parts: list[str]) -> None:
        if parts[0] == "files" and len(parts) == 3 and parts[2] == "content":
            data = self.files.get(parts[1])
            if data is None:
                handler._send(404, {"error": {"message": f"No such File object: {parts[1]}"}})
                return
            handler.send_response(200)
            handler.send_header("content-type", "application/octet-stream")
            handler.send_header("content-length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            return
        if parts[0] == "batches" and len(parts) == 1:
            with self._lock:
                listed = sorted(self.batches.values(), key=lambda b: b.created, reverse=True)
            handler._send(
                200,
                {
                    "object": "list",
                    "data": [self._advance(b).body() for b in listed],
                    "has_more": False,
                },
            )
            return
        if parts[0] == "batches" and len(parts) == 2:
            batch = self.batches.get(parts[1])
            if batch is None:
                handler._send(404, {"error": {"message": f"No such batch: {parts[1]}"}})
                return
            with self._lock:
                self.polls.append(batch.id)
            handler._send(200, self._advance(batch).body())
            return
        handler._send(404, {"error": {"message": "not found"}})

    def post(self, handler: Any, parts: list[str], raw: bytes) -> None:
        if parts == ["files"]:
            filename, data = _multipart_file(handler.headers.get("content-type", ""), raw)
            file_id = f"file-{uuid.uuid4().hex[:24]}"
            with self._lock:
                self.files[file_id] = data
            handler._send(
                200,
                {
                    "id": file_id,
                    "object": "file",
                    "bytes": len(data),
                    "created_at": int(time.time()),
                    "filename": filename,
                    "purpose": "batch",
                    "status": "processed",
                },
            )
            return
        if parts == ["batches"]:
            body = json.loads(raw or b"{}")
            data = self.files.get(body.get("input_file_id", ""))
            if data is None:
                handler._send(400, {"error": {"message": "input_file_id not found"}})
                return
            lines = [line for line in data.decode().splitlines() if line.strip()]
            api_key = (handler.headers.get("authorization") or "").removeprefix("Bearer ")
            batch = FakeBatch(
                id=f"batch_{uuid.uuid4().hex[:24]}",
                input_file_id=body["input_file_id"],
                metadata=body.get("metadata") or {},
                created=time.monotonic(),
                api_key=api_key.strip() or handler.headers.get("api-key", ""),
                total=len(lines),
            )
            with self._lock:
                self.batches[batch.id] = batch
                self.created += 1
                for line in lines:
                    key = str(json.loads(line).get("custom_id"))
                    self.submissions[key] = self.submissions.get(key, 0) + 1
            handler._send(200, batch.body())
            return
        if parts[0] == "batches" and len(parts) == 3 and parts[2] == "cancel":
            batch = self.batches.get(parts[1])
            if batch is None:
                handler._send(404, {"error": {"message": f"No such batch: {parts[1]}"}})
                return
            with self._lock:
                if batch.status in ("validating", "in_progress"):
                    batch.status = "cancelled"
                    self.cancelled += 1
            handler._send(200, batch.body())
            return
        handler._send(404, {"error": {"message": "not found"}})

    # -- the batch's life --------------------------------------------------------------------

    def _advance(self, batch: FakeBatch) -> FakeBatch:
        """The batch's status now; once its delay has passed it is `finalizing` while a
        thread answers its lines (a big batch takes a while; a status check never waits
        for it), then `completed`. A small batch is answered before the check returns."""
        with self._lock:
            if batch.status not in ("validating", "in_progress"):
                return batch
            age = time.monotonic() - batch.created
            if age < self.delay:
                batch.status = "in_progress" if age >= self.delay / 2 else "validating"
                return batch
            batch.status = "finalizing"
        worker = threading.Thread(target=self._run, args=(batch,), daemon=True)
        worker.start()
        worker.join(timeout=2.0)
        return batch

    def _run(self, batch: FakeBatch) -> None:
        """Answer every line as a synchronous request would be answered."""
        from tests.fake_openai import Recorded

        output: list[str] = []
        errors: list[str] = []
        for line in self.files[batch.input_file_id].decode().splitlines():
            if not line.strip():
                continue
            item = json.loads(line)
            custom_id = item["custom_id"]
            if custom_id in self.fail_ids:
                errors.append(
                    json.dumps(
                        {
                            "id": f"batch_req_{uuid.uuid4().hex[:12]}",
                            "custom_id": custom_id,
                            "response": {"status_code": 500, "body": {"error": "server"}},
                            "error": None,
                        }
                    )
                )
                batch.failed += 1
                continue
            capture = _Capture(headers={"authorization": f"Bearer {batch.api_key}"})
            record = Recorded(body=item["body"], headers=capture.headers, started=time.monotonic())
            self.server._respond(capture, item["body"], record)
            record.finished = time.monotonic()
            with self.server._lock:
                self.server.batch_requests.append(record)
            output.append(
                json.dumps(
                    {
                        "id": f"batch_req_{uuid.uuid4().hex[:12]}",
                        "custom_id": custom_id,
                        "response": {
                            "status_code": capture.status,
                            "request_id": uuid.uuid4().hex,
                            "body": capture.payload,
                        },
                        "error": None,
                    }
                )
            )
            if capture.status == 200:
                batch.completed += 1
            else:
                batch.failed += 1
        with self._lock:
            batch.output_file_id = f"file-{uuid.uuid4().hex[:24]}"
            self.files[batch.output_file_id] = ("\n".join(output) + "\n").encode()
            if errors:
                batch.error_file_id = f"file-{uuid.uuid4().hex[:24]}"
                self.files[batch.error_file_id] = ("\n".join(errors) + "\n").encode()
            batch.status = "completed"


def _multipart_file(content_type: str, raw: bytes) -> tuple[str, bytes]:
    """The uploaded file of a multipart/form-data body (filename, bytes)."""
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"content-type: {content_type}\r\n\r\n".encode() + raw
    )
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "file":
            payload = part.get_payload(decode=True)
            return part.get_filename() or "batch.jsonl", bytes(payload or b"")
    return "batch.jsonl", b""
