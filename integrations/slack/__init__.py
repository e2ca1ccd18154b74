"""The Slack bot: slack-bolt (its Django adapter) and slack-sdk. docs/integrations.md."""
