from django.apps import AppConfig


class ChatConfig(AppConfig):
    name = "chat"
    verbose_name = "Chat"

    def ready(self):
        # Billing needs messages (the plan's monthly message quota);
        # it sits below this app, so it asks through billing.sources.
        from billing import sources
        from chat.selectors import user_messages_since

        sources.register_counter("messages_since", lambda since: user_messages_since(since=since))

        # Every answer (and its question) becomes searchable: indexed in batches by a task.
        from chat.conversations.events import index_after_answers
        from core import events

        events.subscribe_batches(index_after_answers)
