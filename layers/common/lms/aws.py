"""How the layer's AWS clients talk to AWS: bounded connect and read timeouts and bounded retries, so
an unreachable DynamoDB costs a request a few seconds and a 503, never the function's whole timeout.

Per call at worst: connection refused, 3 attempts and standard mode's backoff between them (under
1 s, then 2 s); a service that accepts and never answers, 3 reads of 2 s and the backoff (9 s, inside
the API's 10 s timeout).

DynamoDB Local (reached through an endpoint override: `make dev`, the tests, `sam local`) is one
process applying writes one at a time on a machine that may be busy: an outline's parallel batches
queue behind each other there, for seconds when the machine is loaded. A slow answer there is a
queue, not a lost request, and a retry after a read timeout only queues the same batch again behind
the first (every attempt then timed out: 503). So locally one attempt, allowed most of the timeout.
"""

import os

from botocore.config import Config

# total_max_attempts counts the first attempt (a client's `max_attempts` would count retries only).
AWS_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 3})
LOCAL_CONFIG = Config(connect_timeout=1, read_timeout=8, retries={"mode": "standard", "total_max_attempts": 1})
CLIENT_CONFIG = LOCAL_CONFIG if os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") else AWS_CONFIG
