from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings

from users import selectors, services


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        # Organizations are created by the public sign-up (users.services.signup);
        # allauth's own sign-up form would create users with no organization.
        return settings.ACCOUNT_ALLOW_SIGNUPS

    def get_email_confirmation_url(self, request, emailconfirmation) -> str:
        """Confirmation links point at the app's own page on the public site, whatever
        host sent them (never allauth's server-rendered confirmation page)."""
        port = f":{settings.SITE_PORT}" if settings.SITE_PORT else ""
        path = settings.HEADLESS_FRONTEND_URLS["account_confirm_email"].format(
            key=emailconfirmation.key
        )
        return f"{settings.SITE_SCHEME}://{settings.BASE_DOMAIN}{port}{path}"

    def get_login_redirect_url(self, request) -> str:
        """On the public site, continue to the user's (first) organization."""
        tenant = getattr(request, "tenant", None)
        if tenant is not None and tenant.is_public:
            membership = selectors.organization_list_for_user(user=request.user).first()
            if membership is not None:
                return services.login_handoff_url(
                    user=request.user, organization=membership.organization
                )
        return super().get_login_redirect_url(request)

    def is_safe_url(self, url) -> bool:
        # Hand-off links go to organization hosts under BASE_DOMAIN.
        from django.utils.http import url_has_allowed_host_and_scheme

        hosts = {settings.BASE_DOMAIN, f".{settings.BASE_DOMAIN}", *settings.ALLOWED_HOSTS}
        return url_has_allowed_host_and_scheme(url, allowed_hosts=hosts)
