"""The Microsoft Teams bot: the Microsoft 365 Agents SDK. docs/integrations.md."""
