"""The Gmail API client for one connection: google-api-python-client built from its
bundled discovery document (``static_discovery=True``: nothing is downloaded), with
google-auth credentials minted from the stored refresh token, over the outbound policy
(integrations/gmail/transport.py)."""

from __future__ import annotations

import logging

import google.auth.exceptions
import google_auth_httplib2
from django.conf import settings
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from core import crypto, errors, outbound
from integrations.gmail.transport import PolicyHttp
from integrations.models import GmailConnection

logger = logging.getLogger(__name__)

SCOPE_READONLY = "https://www.googleapis.com/auth/gmail.readonly"
SCOPE_COMPOSE = "https://www.googleapis.com/auth/gmail.compose"


class GmailUnavailable(errors.ServiceUnavailable):
    code = "gmail_unavailable"


class GmailAccessRevoked(errors.Conflict):
    code = "gmail_reconnect"


def credentials_for(connection: GmailConnection) -> Credentials:
    return Credentials(
        token=None,
        refresh_token=crypto.decrypt(connection.refresh_token_encrypted),
        token_uri=settings.GOOGLE_OAUTH_TOKEN_URL,
        client_id=settings.GOOGLE_OAUTH_CLIENT_ID,
        client_secret=settings.GOOGLE_OAUTH_CLIENT_SECRET,
        scopes=connection.scopes or None,
    )


def service_for_credentials(credentials: Credentials):
    http = google_auth_httplib2.AuthorizedHttp(credentials, http=PolicyHttp())
    return build(
        "gmail",
        "v1",
        http=http,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": settings.GMAIL_API_BASE},
    )


def gmail_service(connection: GmailConnection):
    return service_for_credentials(credentials_for(connection))


def execute(request):
    """Run one API request; Google's and the network's failures become domain errors
    (their text never carries a token: google-auth keeps tokens out of its messages)."""
    try:
        return request.execute(num_retries=2)
    except google.auth.exceptions.RefreshError as exc:
        logger.warning("gmail: the refresh token was refused (%s)", type(exc).__name__)
        raise GmailAccessRevoked(
            "Google no longer accepts this Gmail connection. Connect Gmail again.",
        ) from None
    except HttpError as exc:
        if exc.resp.status in (401, 403):
            raise GmailAccessRevoked(
                "Google refused access to this mailbox. Connect Gmail again.",
            ) from None
        raise GmailUnavailable(f"Gmail answered {exc.resp.status}.") from exc
    except outbound.UnreachableAddress:
        raise GmailUnavailable("Gmail could not be reached.") from None
    except google.auth.exceptions.TransportError:
        raise GmailUnavailable("Google could not be reached.") from None


def is_not_found(exc: BaseException) -> bool:
    cause = exc.__cause__
    return isinstance(cause, HttpError) and cause.resp.status == 404
