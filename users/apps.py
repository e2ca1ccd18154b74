from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Organizations and users"

    def ready(self):
        # Logging out happens in django.contrib.auth, which announces it only by signal;
        # a password changes through allauth, the admin or changepassword, all of which
        # save the user: the receivers call a service.
        from allauth.mfa import signals as mfa
        from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
        from django.db.models.signals import post_save

        from users import receivers
        from users.models import User

        user_logged_out.connect(receivers.close_sockets_of_login, dispatch_uid="users.logout")
        # Sign-ins and second factors, in the organizations' audit logs.
        user_logged_in.connect(receivers.record_sign_in, dispatch_uid="users.audit-sign-in")
        user_login_failed.connect(
            receivers.record_failed_sign_in, dispatch_uid="users.audit-sign-in-failed"
        )
        mfa.authentication_failed.connect(
            receivers.record_failed_second_factor, dispatch_uid="users.audit-2fa-failed"
        )
        mfa.authenticator_added.connect(
            receivers.record_second_factor, dispatch_uid="users.audit-2fa-added"
        )
        mfa.authenticator_removed.connect(
            receivers.record_second_factor, dispatch_uid="users.audit-2fa-removed"
        )
        post_save.connect(
            receivers.close_sockets_after_password_change,
            sender=User,
            dispatch_uid="users.password-changed",
        )
