"""Which apps live in the public schema and which in every organization's schema.

Public: what must be found before a tenant is known or is shared by all
(organizations, users, memberships, the AI model catalog, API-key hashes,
billing). Tenant: the organization's own content. See ARCHITECTURE.md.
"""

import environ

env = environ.Env()

SHARED_APPS = [
    "django_tenants",
    "users",
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.sites",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.admin",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.headless",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from pinned local files
    "core.api",  # API conventions DRF has no setting for (core/api/strict.py)
    "channels",
    "assistants.catalog",
    "integrations",
    "billing",
]

TENANT_APPS = [
    "assistants",
    "knowledge_base",
    "chat",
    "workflows",
    "prompts",
    "files",
    "audit",
]

INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "users.Organization"
TENANT_DOMAIN_MODEL = "users.Domain"
PUBLIC_SCHEMA_NAME = "public"
ROOT_URLCONF = "config.urls"
PUBLIC_SCHEMA_URLCONF = "config.urls_public"
# Unknown hosts get 404, never the public site (fail closed).
# Extra host names of the public site (BASE_DOMAIN and www.BASE_DOMAIN always are).
PUBLIC_HOSTS = env.list("PUBLIC_HOSTS", default=[])
SHOW_PUBLIC_IF_NO_TENANT_FOUND = False
DEFAULT_NOT_FOUND_TENANT_VIEW = "core.error_pages.unknown_host"
# Set search_path once per schema switch, not before every cursor (halves round trips).
TENANT_LIMIT_SET_CALLS = True
# New organizations' schemas are cloned from a migrated template schema that
# `migrate` keeps current (core/schema_template.py, ADR 0054); off: migrated one by one.
TENANT_SCHEMA_CLONING = env.bool("TENANT_SCHEMA_CLONING", default=True)
GET_EXECUTOR_FUNCTION = "core.schema_template.get_executor"
# Processes of `migrate_schemas --executor=multiprocessing` (the migrations Job).
TENANT_MULTIPROCESSING_MAX_PROCESSES = env.int("TENANT_MULTIPROCESSING_MAX_PROCESSES", default=2)
DATABASE_ROUTERS = ["django_tenants.routers.TenantSyncRouter"]
# Names an organization may not take: they collide with our own hosts or
# with PostgreSQL schemas.
RESERVED_SLUGS = {
    "www",
    "api",
    "admin",
    "public",
    "static",
    "media",
    "app",
    "dashboard",
    "docs",
    "help",
    "support",
    "status",
    "mail",
    "email",
    "smtp",
    "ftp",
    "assets",
    "cdn",
    "auth",
    "login",
    "signup",
    "accounts",
    "billing",
    "internal",
    "system",
    "root",
    "test",
    "staging",
    "dev",
    "demo",
    "information_schema",
    "localhost",
}

# django.contrib.sites names the platform in allauth's e-mails (the public site).
SITE_ID = 1
