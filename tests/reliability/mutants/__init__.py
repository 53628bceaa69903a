"""Defect patches the reliability suite must catch, and their runner (run.py)."""
