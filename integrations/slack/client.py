"""slack-sdk's Web API client, pointed at SLACK_API_BASE (the local fake in tests)."""

from django.conf import settings
from slack_sdk import WebClient


def web_client(token: str | None = None) -> WebClient:
    return WebClient(token=token, base_url=settings.SLACK_API_BASE, timeout=15)
