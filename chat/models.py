"""Chat sessions and messages arrive with the chat issue.

No models yet: nothing here pretends to work before its issue lands.
"""
