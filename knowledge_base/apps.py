from django.apps import AppConfig


class KnowledgeBaseConfig(AppConfig):
    name = "knowledge_base"
    verbose_name = "Knowledge base"

    def ready(self):
        # Billing needs documents and their bytes (the plan's document and storage limits);
        # it sits below this app, so it asks through billing.sources.
        from billing import sources
        from files import processing
        from knowledge_base import file_processing
        from knowledge_base.selectors import document_totals

        sources.register_counter("document_totals", document_totals)
        # The files app reads uploads with this app's extraction (ADR 0026).
        processing.register(detector=file_processing.detect, processor=file_processing.file_process)
        # Documents from URLs: their tasks live apart from tasks.py (autodiscovered).
        from knowledge_base import web_tasks  # noqa: F401
        from knowledge_base.evaluation import tasks as evaluation_tasks  # noqa: F401
