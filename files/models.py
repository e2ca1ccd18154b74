"""Stored files and their processing arrive with the knowledge-base issue.

No models yet: nothing here pretends to work before its issue lands.
"""
