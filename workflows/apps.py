from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self):
        from core import events
        from workflows.triggers import on_platform_events

        events.subscribe_batches(on_platform_events)
