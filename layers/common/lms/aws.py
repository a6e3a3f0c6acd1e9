"""How the layer's AWS clients talk to AWS: bounded connect and read timeouts and bounded retries, so
an unreachable DynamoDB costs a request a few seconds and a 503, never the function's whole timeout.

Per call at worst: connection refused, 3 attempts and their backoff (under 1 s + 2 s); a service that
accepts and never answers, 3 x 2 s reads and the backoff (about 9 s, inside the API's 10 s timeout).
"""

from botocore.config import Config

CLIENT_CONFIG = Config(connect_timeout=1, read_timeout=2, retries={"mode": "standard", "max_attempts": 3})
