from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"

    def ready(self):
        from core import events
        from workflows.triggers import on_platform_event

        events.subscribe(on_platform_event)
