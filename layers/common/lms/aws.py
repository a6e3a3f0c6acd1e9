"""How the layer's AWS clients talk to AWS: bounded connect and read timeouts and bounded retries, so
an unreachable DynamoDB costs a request a few seconds and a 503, never the function's whole timeout.

Per call at worst: connection refused, 3 attempts and standard mode's backoff between them (under
1 s, then 2 s); a service that accepts and never answers, 3 reads of 2 s and the backoff (9 s, inside
the API's 10 s timeout).
"""

from botocore.config import Config

# total_max_attempts counts the first attempt (a client's `max_attempts` would count retries only).
CLIENT_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "total_max_attempts": 3})
