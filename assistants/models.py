"""The AI model catalog (public schema) and assistants (tenant schema) arrive with the AI-layer issue; assistants/providers/ is the shared AI layer.

No models yet: nothing here pretends to work before its issue lands.
"""
