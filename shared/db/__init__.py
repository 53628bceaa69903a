"""Database plumbing shared by the services: engines, types, and the consumer/outbox tables."""
