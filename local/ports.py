"""Free TCP ports, so tests and parallel runs never fight over a fixed one; the local HTTP servers
and helper processes."""

import socket
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS considers free right now (bind to 0, read it back, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def is_listening(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def terminate(process: subprocess.Popen[Any], timeout: float = 10) -> None:
    """Ask a helper process to stop, and kill it if it has not within `timeout` s."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class LocalServer(ThreadingHTTPServer):
    """An HTTP server on a thread of its own for `owner` (its handler's `self.server.owner`); port 0
    picks a free one (see `url`)."""

    daemon_threads = True  # a stuck keep-alive connection never blocks shutdown
    request_queue_size = 128  # bursts of parallel clients queue instead of being refused

    def __init__(self, host: str, port: int, handler: type[BaseHTTPRequestHandler], owner: Any) -> None:
        super().__init__((host, port), handler)
        self.owner = owner
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():  # shutdown() would wait forever for a server never started
            self.shutdown()
            self._thread.join()
        self.server_close()
