"""A local webhook receiver that counts what reminder deliveries post to it.

The fault drills and the dispatch benchmark judge "exactly once" here, at the far end of the
channel: every POST is recorded with its `Idempotency-Key` header (the delivery's key, the same on
every try), so a test can compare raw posts against distinct keys. It is a `ThreadingHTTPServer`
speaking HTTP/1.1, so a client that keeps its connection alive can send many posts over it, and it
does as little as possible per request, since the benchmark sends it 100,000.

Its behaviour can change while it runs, to stage the failures the drills need:
- `answer(500)` (optionally `for_seconds=…`): a channel that fails for a while, or for good;
- `slow(seconds)`: each answer waits, so a batch takes long enough to be interrupted;
- `hold_after(n)` / `hang()`: posts after the n-th are recorded on arrival and then left without
  an answer until `release()`: the moment a post is recorded its sender is certainly mid-request,
  which is what lets a drill kill a worker "after k posts of a batch" deterministically.

`GET /stats` answers the counts as JSON, for a client in another process: the benchmark runs
the receiver as a process of its own (`python -m tests.workers.webhook_receiver`, which prints its
URL and serves until stopped), so that serving posts does not compete for its interpreter.

    with WebhookReceiver() as receiver:
        settings = Settings(default_channels=["webhook"], webhook_url=receiver.url, ...)
        receiver.wait_for(lambda r: r.raw_posts >= 10, timeout=10)
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from workers.channels.webhook import IDEMPOTENCY_HEADER

REPLY = b'{"ok": true}'
# A held post is answered at the latest after this, so a forgotten `release()` cannot keep a
# handler thread (and the sender's socket) forever.
HOLD_LIMIT_SECONDS = 60.0
# How long a kept-alive connection may stay idle before its handler thread gives up on it.
IDLE_CONNECTION_SECONDS = 30.0


@dataclass(frozen=True)
class Post:
    """One POST as it arrived."""

    key: str | None  # the Idempotency-Key header
    status: int  # the status it was (or will be, if held) answered with
    held: bool  # left without an answer until `release()`
    at: float  # time.monotonic() on arrival
    body: bytes | None  # kept only with `keep_bodies=True`


class WebhookReceiver:
    """A counting HTTP endpoint on 127.0.0.1; start/stop it, or use it as a context manager."""

    def __init__(self, *, port: int = 0, status: int = 200, keep_bodies: bool = False) -> None:
        self._requested_port = port
        self._keep_bodies = keep_bodies
        self._changed = threading.Condition()  # guards everything below; notified on each post
        self._posts: list[Post] = []
        self._keys: Counter[str | None] = Counter()
        self._status = status
        self._status_until: float | None = None  # after this, answer 200 again
        self._delay = 0.0
        self._hold_after: int | None = None
        self._released = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- running ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the webhook receiver is not running")
        return f"http://127.0.0.1:{self._server.server_port}/hook"

    def start(self) -> None:
        server = _Server(("127.0.0.1", self._requested_port), _handler_for(self))
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="webhook-receiver",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        """Answer every held post, then stop serving and close the listening socket."""
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join()
        self._server = self._thread = None

    def __enter__(self) -> WebhookReceiver:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # --- behaviour ----------------------------------------------------------------------------

    def answer(self, status: int, *, for_seconds: float | None = None) -> None:
        """Answer `status` from now on, or only for `for_seconds` and then 200 again."""
        with self._changed:
            self._status = status
            self._status_until = None if for_seconds is None else time.monotonic() + for_seconds

    def slow(self, seconds: float) -> None:
        """Wait `seconds` before each answer (0: answer at once)."""
        with self._changed:
            self._delay = seconds

    def hold_after(self, count: int) -> None:
        """Record, but leave unanswered until `release()`, every post after the `count`-th."""
        with self._changed:
            self._released.clear()
            self._hold_after = count

    def hang(self) -> None:
        """Leave every post from now on unanswered until `release()`."""
        with self._changed:
            self.hold_after(len(self._posts))

    def release(self) -> None:
        """Answer the held posts (their senders may be gone) and hold no more."""
        with self._changed:
            self._hold_after = None
            self._released.set()

    # --- counts -------------------------------------------------------------------------------

    @property
    def raw_posts(self) -> int:
        with self._changed:
            return len(self._posts)

    @property
    def distinct_keys(self) -> int:
        with self._changed:
            return len(self._keys)

    def posts(self) -> list[Post]:
        with self._changed:
            return list(self._posts)

    def keys(self) -> Counter[str | None]:
        """How many posts carried each Idempotency-Key."""
        with self._changed:
            return Counter(self._keys)

    def repeated(self) -> dict[str | None, int]:
        """The keys posted more than once, with their counts."""
        with self._changed:
            return {key: n for key, n in self._keys.items() if n > 1}

    def stats(self) -> dict[str, Any]:
        """The counts, and the arrival of the first and last post (`time.monotonic()`, which on
        Linux is one clock for every process of the machine)."""
        with self._changed:
            answered = Counter(post.status for post in self._posts)
            return {
                "posts": len(self._posts),
                "distinct": len(self._keys),
                "answered": {str(status): n for status, n in sorted(answered.items())},
                "first_at": self._posts[0].at if self._posts else None,
                "last_at": self._posts[-1].at if self._posts else None,
            }

    def wait_for(self, condition: Callable[[WebhookReceiver], bool], timeout: float) -> None:
        """Block until `condition(self)` holds, re-checked on every post; AssertionError after
        `timeout` seconds."""
        with self._changed:
            if not self._changed.wait_for(lambda: condition(self), timeout=timeout):
                raise AssertionError(
                    f"webhook receiver: condition still false after {timeout} s "
                    f"({len(self._posts)} posts, {len(self._keys)} distinct keys)"
                )

    # --- serving ------------------------------------------------------------------------------

    def _record(self, key: str | None, body: bytes) -> Post:
        with self._changed:
            now = time.monotonic()
            if self._status_until is not None and now >= self._status_until:
                self._status, self._status_until = 200, None
            held = self._hold_after is not None and len(self._posts) >= self._hold_after
            post = Post(
                key=key,
                status=self._status,
                held=held,
                at=now,
                body=body if self._keep_bodies else None,
            )
            self._posts.append(post)
            self._keys[key] += 1
            self._changed.notify_all()
            return post

    def _before_answer(self, post: Post) -> None:
        if post.held:
            self._released.wait(timeout=HOLD_LIMIT_SECONDS)
        with self._changed:
            delay = self._delay
        if delay:
            time.sleep(delay)  # the slowness being simulated, not a wait for a condition


class _Server(ThreadingHTTPServer):
    daemon_threads = True  # a handler waiting on a kept-alive connection must not block stop()
    request_queue_size = 1024  # the benchmark's workers open connections in bursts

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A sender killed mid-request (the drills do that) resets its connection; that is the
        # scenario, not a failure of the receiver.
        pass


def _handler_for(receiver: WebhookReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, when the client wants it
        timeout = IDLE_CONNECTION_SECONDS
        # Status line, headers and body leave in one segment, at the flush after each request:
        # written separately, Nagle's algorithm meets the client's delayed ACK and every answer
        # on a kept-alive connection waits 40 ms.
        wbufsize = -1
        disable_nagle_algorithm = True

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            post = receiver._record(self.headers.get(IDEMPOTENCY_HEADER), body)
            receiver._before_answer(post)
            self._reply(post.status, REPLY)

        def do_GET(self) -> None:
            if self.path != "/stats":
                self._reply(404, b"{}")
                return
            self._reply(200, json.dumps(receiver.stats()).encode())

        def _reply(self, status: int, body: bytes) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                self.close_connection = True  # the sender is gone (killed, or timed out)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # one line per post would flood the test output and slow the benchmark

    return Handler


def main() -> None:
    """Serve on the port given as the only argument (default: any free one), print the URL,
    and run until interrupted or terminated."""
    receiver = WebhookReceiver(port=int(sys.argv[1]) if len(sys.argv) > 1 else 0)
    receiver.start()
    print(receiver.url, flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        receiver.stop()


if __name__ == "__main__":
    main()
