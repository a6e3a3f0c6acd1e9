"""Data access: the only code that talks to DynamoDB. One module per entity."""
