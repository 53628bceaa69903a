"""The router's domain: parties, cases and the decisions that tie messages to them (pure logic)."""
