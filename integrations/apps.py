from django.apps import AppConfig


class IntegrationsConfig(AppConfig):
    name = "integrations"
    verbose_name = "Integrations"

    def ready(self):
        # Billing needs API keys' names (usage reports by key);
        # it sits below this app, so it asks through billing.sources.
        from billing import sources
        from integrations.selectors import api_key_labels

        sources.register_labels("api_key", api_key_labels)

        # The bots' tasks live in their packages (Celery's autodiscovery finds only
        # integrations.tasks).
        # Outbound webhooks: every platform event may have endpoints to deliver to.
        from core import events
        from integrations.slack import tasks as slack_tasks  # noqa: F401
        from integrations.teams import tasks as teams_tasks  # noqa: F401
        from integrations.webhooks.subscriber import webhooks_on_events

        events.subscribe_batches(webhooks_on_events)

        # Slack and Teams as targets of workflows' notify steps (workflows may not
        # import this app: they look the senders up in core.notifications).
        from integrations import notify

        notify.register()

        # Verified keys are kept per process (api_key_cache.py): any change to a key or
        # an organization, however it is made (services, admin, deletion cascades),
        # makes every process read its keys again.
        from django.db.models.signals import post_delete, post_save

        from integrations import api_key_cache
        from integrations.models import APIKey
        from users.models import Organization

        for model in (APIKey, Organization):
            for name, signal in (("save", post_save), ("delete", post_delete)):
                signal.connect(
                    api_key_cache.invalidate_on_commit,
                    sender=model,
                    dispatch_uid=f"integrations.api-key-cache.{name}.{model.__name__}",
                )
