from django.apps import AppConfig


class FilesConfig(AppConfig):
    name = "files"
    verbose_name = "Files"

    def ready(self):
        # The plan's storage limit counts attachments too; billing sits below this app.
        from billing import sources
        from files.selectors import attachment_bytes

        sources.register_counter("attachment_bytes", attachment_bytes)
