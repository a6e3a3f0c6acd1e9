"""Pydantic models: request bodies (strict, unknown fields rejected) and responses (camelCase)."""
