"""Outbound: delivers replies to residents on their channel and reports every status (#17)."""
