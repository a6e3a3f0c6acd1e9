"""Business rules. Services know nothing of boto3: they speak to repositories."""
