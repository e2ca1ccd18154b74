"""The audit log (organization schema): who changed what, when, from where.

Rows are written by the services that make the change, in the same transaction,
so a change and its audit row commit or roll back together.
"""

import uuid

from django.db import models
from django.utils import timezone

from core.lookups import user_reference


class AuditAction(models.TextChoices):
    API_KEY_CREATED = "api_key.created", "API key created"
    API_KEY_REVOKED = "api_key.revoked", "API key revoked"
    MEMBER_ROLE_CHANGED = "member.role_changed", "Member role changed"
    MEMBER_REMOVED = "member.removed", "Member removed"
    ORGANIZATION_UPDATED = "organization.updated", "Organization settings changed"
    ASSISTANT_CREATED = "assistant.created", "Assistant created"
    ASSISTANT_UPDATED = "assistant.updated", "Assistant changed"
    ASSISTANT_DELETED = "assistant.deleted", "Assistant deleted"
    CREDENTIAL_CREATED = "credential.created", "Credential created"
    CREDENTIAL_UPDATED = "credential.updated", "Credential changed"
    CREDENTIAL_DELETED = "credential.deleted", "Credential deleted"
    PLAN_CHANGED = "billing.plan_changed", "Plan changed"
    INTEGRATION_CONNECTED = "integration.connected", "Integration connected"
    INTEGRATION_UPDATED = "integration.updated", "Integration changed"
    INTEGRATION_DISCONNECTED = "integration.disconnected", "Integration disconnected"
    WEBHOOK_CREATED = "webhook.created", "Webhook endpoint created"
    WEBHOOK_UPDATED = "webhook.updated", "Webhook endpoint changed"
    WEBHOOK_DELETED = "webhook.deleted", "Webhook endpoint deleted"
    WEBHOOK_REDELIVERED = "webhook.redelivered", "Webhook delivery sent again"
    WIDGET_CREATED = "widget.created", "Widget created"
    WIDGET_UPDATED = "widget.updated", "Widget changed"
    WIDGET_DELETED = "widget.deleted", "Widget deleted"
    CONVERSATIONS_IMPORTED = "conversations.imported", "Conversations imported"
    PROMPT_CREATED = "prompt.created", "Prompt template created"
    PROMPT_UPDATED = "prompt.updated", "Prompt template changed"
    PROMPT_DELETED = "prompt.deleted", "Prompt template deleted"
    PROMPT_VERSION_SAVED = "prompt.version_saved", "Prompt version saved"
    PROMPT_PUBLISHED = "prompt.published", "Prompt version published"
    WORKFLOW_CREATED = "workflow.created", "Workflow created"
    WORKFLOW_UPDATED = "workflow.updated", "Workflow changed"
    WORKFLOW_DELETED = "workflow.deleted", "Workflow deleted"
    WORKFLOW_PUBLISHED = "workflow.published", "Workflow version published"
    WORKFLOW_RUN_CANCELLED = "workflow.run_cancelled", "Workflow run cancelled"
    WORKFLOW_APPROVAL_DECIDED = "workflow.approval_decided", "Workflow approval decided"
    WORKFLOW_SECRET_SAVED = "workflow.secret_saved", "Workflow secret saved"
    WORKFLOW_SECRET_DELETED = "workflow.secret_deleted", "Workflow secret deleted"
    COLLECTION_CREATED = "collection.created", "Collection created"
    COLLECTION_UPDATED = "collection.updated", "Collection changed"
    COLLECTION_DELETED = "collection.deleted", "Collection deleted"
    DOCUMENT_ADDED = "document.added", "Document added"
    DOCUMENT_REPROCESSED = "document.reprocessed", "Document reprocessed"
    DOCUMENT_DELETED = "document.deleted", "Document deleted"
    INVITATION_SENT = "invitation.sent", "Invitation sent"
    INVITATION_REVOKED = "invitation.revoked", "Invitation revoked"
    INVITATION_ACCEPTED = "invitation.accepted", "Invitation accepted"
    TWO_FACTOR_ENABLED = "two_factor.enabled", "Two-factor authentication turned on"
    TWO_FACTOR_DISABLED = "two_factor.disabled", "Two-factor authentication turned off"
    SIGN_IN_SUCCEEDED = "sign_in.succeeded", "Signed in"
    SIGN_IN_FAILED = "sign_in.failed", "Sign-in failed"
    WEB_PAGE_ADDED = "knowledge.web_page_added", "Web page added to a collection"
    SITEMAP_ADDED = "knowledge.sitemap_added", "Sitemap added to a collection"
    SITEMAP_DELETED = "knowledge.sitemap_deleted", "Sitemap removed from a collection"
    EVALUATION_QUESTION_ADDED = "knowledge.eval_question_added", "Test question added"
    EVALUATION_QUESTIONS_UPLOADED = "knowledge.eval_questions_uploaded", "Test questions uploaded"
    EVALUATION_QUESTIONS_DRAFTED = "knowledge.eval_questions_drafted", "Test questions drafted"
    EVALUATION_QUESTION_REVIEWED = "knowledge.eval_question_reviewed", "Test question reviewed"
    EVALUATION_QUESTION_DELETED = "knowledge.eval_question_deleted", "Test question deleted"
    EVALUATION_RUN_STARTED = "knowledge.eval_run_started", "Retrieval evaluation started"


class AuditEvent(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    action = models.CharField(max_length=40, choices=AuditAction.choices, db_index=True)
    actor = user_reference()
    actor_email = models.EmailField(blank=True)  # kept if the user is deleted later
    # API keys live in the public schema: referenced by id, with a readable label.
    api_key_id = models.UUIDField(null=True, blank=True)
    api_key_label = models.CharField(max_length=140, blank=True)
    target_type = models.CharField(max_length=40)
    target_id = models.CharField(max_length=64)
    target_label = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.target_label}"
