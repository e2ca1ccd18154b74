"""Signal receivers: thin, each calls one service."""

from django_tenants.utils import schema_context

from assistants import services


def starter_assistants_for_new_organization(sender, organization=None, owner=None, **kwargs):
    """A signed-up organization opens its chat on the starter assistants (as the demo)."""
    with schema_context(organization.schema_name):
        services.assistants_create_defaults(user=owner)
