"""A Docker-free local runtime: DynamoDB Local, an HTTP API gateway and a stream poller, all driven
by template.yaml."""
