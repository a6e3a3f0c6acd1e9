"""Domain events: what the table's stream means for other systems, published on an EventBridge bus."""
