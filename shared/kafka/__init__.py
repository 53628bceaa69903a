"""Kafka plumbing: safe producer/consumer defaults, trace headers, topics, dead letters."""
