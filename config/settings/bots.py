"""Slack and Teams bots (docs/integrations.md). Without SLACK_CLIENT_ID the "Add to
Slack" button explains what the operator must set; Teams needs nothing platform-wide
(each organization enters its own bot's credentials)."""

import environ

env = environ.Env()

# The platform's Slack app (api.slack.com/apps): one app, installed per workspace.
SLACK_CLIENT_ID = env("SLACK_CLIENT_ID", default="")
SLACK_CLIENT_SECRET = env("SLACK_CLIENT_SECRET", default="")
SLACK_SIGNING_SECRET = env("SLACK_SIGNING_SECRET", default="")
# Slack's Web API and OAuth addresses; tests and benchmarks point them at the local
# fake (integrations/tests/fakes/slack.py).
SLACK_API_BASE = env("SLACK_API_BASE", default="https://slack.com/api/")
SLACK_AUTHORIZE_URL = env("SLACK_AUTHORIZE_URL", default="https://slack.com/oauth/v2/authorize")
SLACK_BOT_SCOPES = env.list(
    "SLACK_BOT_SCOPES",
    default=[
        "app_mentions:read",
        "channels:history",
        "groups:history",
        "im:history",
        "chat:write",
        # member_joined_channel: the channels the bot is added to (workflow notify targets)
        "channels:read",
        "groups:read",
        "users:read",
        "users:read.email",
        "commands",
    ],
)
# Characters of answer buffered between two chat.appendStream calls (Slack rate-limits
# the streaming methods; the SDK's default is 256).
SLACK_STREAM_BUFFER_CHARS = env.int("SLACK_STREAM_BUFFER_CHARS", default=120)

# Microsoft Teams (Microsoft 365 Agents SDK). Incoming activities carry a JWT signed by
# the Bot Framework; its keys and issuers, and where the bot gets its app token.
TEAMS_JWKS_URL = env("TEAMS_JWKS_URL", default="https://login.botframework.com/v1/.well-known/keys")
TEAMS_TOKEN_ISSUERS = env.list("TEAMS_TOKEN_ISSUERS", default=["https://api.botframework.com"])
TEAMS_TOKEN_URL = env(
    "TEAMS_TOKEN_URL",
    default="https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token",
)
# Seconds between two updates of a streaming answer in Teams (Teams throttles edits).
TEAMS_UPDATE_INTERVAL = env.float("TEAMS_UPDATE_INTERVAL", default=1.0)
