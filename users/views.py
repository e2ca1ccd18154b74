"""Server-rendered pages of the foundation: sign-up, hand-off, invitation accept.

The dashboard itself is the React app in frontend/; these pages cover what
must work before it (and without JavaScript).
"""

from django.contrib.auth import login
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render

from config.api.errors import APIError
from users import selectors, services
from users.forms import InvitationAcceptForm, SignupForm, add_service_errors

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


def landing(request):
    return render(request, "users/landing.html")


def signup_page(request):
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            result = services.signup(request=request, **form.cleaned_data)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if result.email_verification_required:
                return render(request, "users/signup_done.html", {"result": result})
            return redirect(result.redirect_url)
    return render(request, "users/signup.html", {"form": form})


def handoff(request, token):
    user = services.login_handoff_consume(token=token, organization=request.tenant)
    if user is None:
        raise Http404("This sign-in link is invalid, expired or already used.")
    login(request, user, backend=MODEL_BACKEND)
    return redirect("/")


def home(request):
    if not request.user.is_authenticated:
        return redirect(f"/accounts/login/?next={request.path}")
    membership = (
        selectors.organization_list_for_user(user=request.user)
        .filter(organization=request.tenant)
        .first()
    )
    if membership is None:
        raise Http404
    others = selectors.organization_list_for_user(user=request.user).exclude(
        organization=request.tenant
    )
    return render(request, "users/home.html", {"membership": membership, "others": others})


def switch_organization(request, slug):
    """Move to another of the user's organizations through a hand-off link."""
    if not request.user.is_authenticated:
        return redirect("/accounts/login/")
    membership = (
        selectors.organization_list_for_user(user=request.user)
        .filter(organization__schema_name=slug)
        .first()
    )
    if membership is None:
        raise Http404
    return redirect(
        services.login_handoff_url(user=request.user, organization=membership.organization)
    )


def invitation_accept_page(request):
    token = request.GET.get("token", "")
    form = InvitationAcceptForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = request.user if request.user.is_authenticated else None
        try:
            membership = services.invitation_accept(
                organization=request.tenant, token=token, user=user, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        except APIError as exc:
            form.add_error(None, str(exc.detail))
        else:
            if user is None:
                login(request, membership.user, backend=MODEL_BACKEND)
            return redirect("/")
    return render(request, "users/invitation_accept.html", {"form": form, "token": token})
