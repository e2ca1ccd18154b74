"""The AI provider layer: one interface (`ChatProvider`) for every model the platform calls.

Django-free on purpose. Import what you need from the submodules, e.g.
`from assistants.providers.registry import get_provider`; nothing heavy is imported here so
that loading the Django app never pulls in the vendor SDKs.
"""
