"""Server-side redirects that move a session between hosts (ADR 0001).

The pages themselves (sign-up, log in, invitation accept, the dashboard) are the
React app in frontend/, served by users.spa; these views stay on the server
because they set the session of the host they run on.
"""

from django.contrib.auth import login, logout
from django.http import Http404
from django.shortcuts import redirect

from users import selectors, services

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def handoff(request, token):
    user = services.login_handoff_consume(token=token, organization=request.tenant)
    if user is None:
        raise Http404("This sign-in link is invalid, expired or already used.")
    login(request, user, backend=MODEL_BACKEND)
    return redirect("/")


def switch_organization(request, slug=None):
    """Move to one of the user's organizations through a hand-off link: the one named,
    or (on the public site, after logging in there) the first."""
    if not request.user.is_authenticated:
        return redirect("/login")
    memberships = selectors.organization_list_for_user(user=request.user)
    membership = (
        memberships.filter(organization__schema_name=slug) if slug else memberships
    ).first()
    if membership is None and not slug:
        # Logged in on the public site, but in no organization (never invited, or
        # removed from all of them): nowhere to go, so back to the log-in page, which
        # says so, rather than a 404 and a session that leads nowhere.
        logout(request)
        return redirect("/login?error=no_organization")
    if membership is None:
        raise Http404
    return redirect(
        services.login_handoff_url(user=request.user, organization=membership.organization)
    )
