"""Workflows, steps and runs arrive with the workflows issue.

No models yet: nothing here pretends to work before its issue lands.
"""
