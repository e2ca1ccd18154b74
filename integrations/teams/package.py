"""The Teams app package an admin uploads to Teams: manifest.json (with the bot's id)
and the two icons, zipped. The icons are drawn here (PNG, no image library needed)."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib

from django.conf import settings

from core import errors
from integrations.models import IntegrationProvider

MANIFEST_SCHEMA = (
    "https://developer.microsoft.com/en-us/json-schemas/teams/v1.17/MicrosoftTeams.schema.json"
)


def _png(size: int, rgba: tuple[int, int, int, int], *, ring: bool = False) -> bytes:
    """A square PNG: a filled colour icon, or (outline) a white ring on transparency."""
    rows = []
    centre, outer, inner = (size - 1) / 2, size / 2 - 1, size / 2 - 4
    for y in range(size):
        row = bytearray([0])
        for x in range(size):
            if ring:
                d = ((x - centre) ** 2 + (y - centre) ** 2) ** 0.5
                row += bytes((255, 255, 255, 255)) if inner <= d <= outer else bytes(4)
            else:
                row += bytes(rgba)
        rows.append(bytes(row))
    raw = zlib.compress(b"".join(rows))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


def teams_manifest(*, integration) -> dict:
    app_id = integration.details.get("app_id") or integration.external_id
    port = f":{settings.SITE_PORT}" if settings.SITE_PORT else ""
    site = f"{settings.SITE_SCHEME}://{settings.BASE_DOMAIN}{port}"
    name = (integration.name or "Assistant")[:30]
    return {
        "$schema": MANIFEST_SCHEMA,
        "manifestVersion": "1.17",
        "version": "1.0.0",
        "id": app_id,
        "developer": {
            "name": integration.organization.name[:32],
            "websiteUrl": site,
            "privacyUrl": f"{site}/privacy",
            "termsOfUseUrl": f"{site}/terms",
        },
        "name": {"short": name, "full": f"{name} (answers from your knowledge)"[:100]},
        "description": {
            "short": "Ask your organization's assistants in Teams."[:80],
            "full": "Mention the bot in a channel or chat with it: it answers from your "
            "organization's knowledge, with sources, and remembers the thread.",
        },
        "icons": {"color": "color.png", "outline": "outline.png"},
        "accentColor": "#4F46E5",
        "bots": [
            {
                "botId": app_id,
                "scopes": ["personal", "team", "groupChat"],
                "supportsFiles": False,
                "isNotificationOnly": False,
            }
        ],
        "permissions": ["identity", "messageTeamMembers"],
        "validDomains": [settings.BASE_DOMAIN],
    }


def teams_package(*, integration) -> tuple[bytes, str]:
    if integration.provider != IntegrationProvider.TEAMS:
        raise errors.ValidationFailed("Only a Teams integration has a Teams app package.")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "manifest.json", json.dumps(teams_manifest(integration=integration), indent=2)
        )
        archive.writestr("color.png", _png(192, (79, 70, 229, 255)))
        archive.writestr("outline.png", _png(32, (0, 0, 0, 0), ring=True))
    return buffer.getvalue(), f"teams-app-{integration.organization.slug}.zip"
