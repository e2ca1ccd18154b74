"""Prompt templates and their versions arrive with the prompts issue.

No models yet: nothing here pretends to work before its issue lands.
"""
