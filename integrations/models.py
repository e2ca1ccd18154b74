"""API keys and integrations (Slack, Teams, Gmail, widget) arrive with later issues.

No models yet: nothing here pretends to work before its issue lands.
"""
