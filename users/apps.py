from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Organizations and users"

    def ready(self):
        # Logging out and changing a password happen in django.contrib.auth and
        # allauth, which announce them only by signal: the receivers call a service.
        from allauth.account import signals as account_signals
        from django.contrib.auth.signals import user_logged_out

        from users import receivers

        user_logged_out.connect(receivers.close_sockets_of_login, dispatch_uid="users.logout")
        for signal in (
            account_signals.password_changed,
            account_signals.password_set,
            account_signals.password_reset,
        ):
            signal.connect(receivers.close_sockets_of_user, dispatch_uid=f"users.{id(signal)}")
