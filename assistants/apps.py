from django.apps import AppConfig


class AssistantsConfig(AppConfig):
    name = "assistants"
    verbose_name = "AI models and assistants"

    def ready(self):
        # Billing needs assistants' names (usage reports by assistant);
        # it sits below this app, so it asks through billing.sources.
        from assistants.selectors import assistant_names
        from billing import sources

        sources.register_labels("assistant", assistant_names)

        # A new organization starts with the starter assistants (users.signals).
        from assistants.receivers import starter_assistants_for_new_organization
        from users.signals import organization_signed_up

        organization_signed_up.connect(
            starter_assistants_for_new_organization, dispatch_uid="assistants.starters"
        )
