"""Ralph's LRS API under uvicorn, run by local.lrs with .venv-lrs's Python (not the project's venv).

Ralph 5.1.0's file-system LRS backend writes with the data backend's default operation, CREATE,
which refuses to touch an existing file: every statement after the first would fail with a 500.
Appending is what an LRS store needs, so that default is set before the app is imported.

    .venv-lrs/bin/python -P local/ralph_server.py <host> <port>
"""

import sys

import uvicorn
from ralph.backends.data.base import BaseOperationType
from ralph.backends.lrs.fs import FSLRSBackend

FSLRSBackend.default_operation_type = BaseOperationType.APPEND

if __name__ == "__main__":
    host, port = sys.argv[1], int(sys.argv[2])
    uvicorn.run("ralph.api:app", host=host, port=port, log_level="warning")
