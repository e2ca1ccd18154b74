from django.apps import AppConfig


class UsersConfig(AppConfig):
    name = "users"
    verbose_name = "Organizations and users"

    def ready(self):
        # Logging out happens in django.contrib.auth, which announces it only by signal;
        # a password changes through allauth, the admin or changepassword, all of which
        # save the user: the receivers call a service.
        from django.contrib.auth.signals import user_logged_out
        from django.db.models.signals import post_save

        from users import receivers
        from users.models import User

        user_logged_out.connect(receivers.close_sockets_of_login, dispatch_uid="users.logout")
        post_save.connect(
            receivers.close_sockets_after_password_change,
            sender=User,
            dispatch_uid="users.password-changed",
        )
