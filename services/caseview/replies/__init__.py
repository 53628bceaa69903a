"""Replies to the resident (issue #17): templates, the reply command, its projection."""
