"""Uploaded files: local disk by default, S3 when AWS_STORAGE_BUCKET_NAME is set."""

import environ

env = environ.Env()

AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME", default="")
if AWS_STORAGE_BUCKET_NAME:
    STORAGES_DEFAULT = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "region_name": env("AWS_S3_REGION_NAME", default=None),
            "endpoint_url": env("AWS_S3_ENDPOINT_URL", default=None),
            "access_key": env("AWS_ACCESS_KEY_ID", default=None),
            "secret_key": env("AWS_SECRET_ACCESS_KEY", default=None),
            # Files are private: downloads go through signed, expiring URLs.
            "default_acl": None,
            "querystring_auth": True,
            "file_overwrite": False,
            # Signature version 4 (every S3 region accepts it; new ones accept nothing else).
            "signature_version": env("AWS_S3_SIGNATURE_VERSION", default="s3v4"),
        },
    }
else:
    STORAGES_DEFAULT = {"BACKEND": "django.core.files.storage.FileSystemStorage"}

# Knowledge uploads: per-file size limit (bytes); larger files get 413.
KNOWLEDGE_MAX_UPLOAD_BYTES = env.int("KNOWLEDGE_MAX_UPLOAD_BYTES", default=50 * 1024 * 1024)
# Texts per embedding call during ingestion.
KNOWLEDGE_EMBED_BATCH_SIZE = env.int("KNOWLEDGE_EMBED_BATCH_SIZE", default=32)
# Recent query embeddings kept per process (0: off): a repeated question is embedded once.
KNOWLEDGE_QUERY_EMBEDDING_CACHE_SIZE = env.int("KNOWLEDGE_QUERY_EMBEDDING_CACHE_SIZE", default=2048)
# A hybrid search's vector half on a second database connection, beside its keyword half
# (knowledge_base/retrieval/second_connection.py, ADR 0114); off: one after the other.
KNOWLEDGE_SEARCH_SECOND_CONNECTION = env.bool("KNOWLEDGE_SEARCH_SECOND_CONNECTION", default=True)

# Extraction limits (knowledge_base/extraction/limits.py, docs/security.md "Extraction
# limits"): each document is parsed in a child process held to this CPU time and memory,
# and refused with a clear reason past these element counts.
KNOWLEDGE_EXTRACTION_CPU_SECONDS = env.int("KNOWLEDGE_EXTRACTION_CPU_SECONDS", default=60)
KNOWLEDGE_EXTRACTION_MEMORY_MB = env.int("KNOWLEDGE_EXTRACTION_MEMORY_MB", default=1024)
KNOWLEDGE_EXTRACTION_MAX_PAGES = env.int("KNOWLEDGE_EXTRACTION_MAX_PAGES", default=5000)
KNOWLEDGE_EXTRACTION_MAX_PARAGRAPHS = env.int(
    "KNOWLEDGE_EXTRACTION_MAX_PARAGRAPHS", default=100_000
)
KNOWLEDGE_EXTRACTION_MAX_ROWS = env.int("KNOWLEDGE_EXTRACTION_MAX_ROWS", default=200_000)
KNOWLEDGE_EXTRACTION_MAX_COLUMNS = env.int("KNOWLEDGE_EXTRACTION_MAX_COLUMNS", default=1000)
KNOWLEDGE_EXTRACTION_MAX_HTML_ELEMENTS = env.int(
    "KNOWLEDGE_EXTRACTION_MAX_HTML_ELEMENTS", default=500_000
)
KNOWLEDGE_EXTRACTION_MAX_XML_DEPTH = env.int("KNOWLEDGE_EXTRACTION_MAX_XML_DEPTH", default=256)
KNOWLEDGE_EXTRACTION_MAX_ZIP_MEMBERS = env.int("KNOWLEDGE_EXTRACTION_MAX_ZIP_MEMBERS", default=2000)
KNOWLEDGE_EXTRACTION_MAX_UNPACKED_MB = env.int("KNOWLEDGE_EXTRACTION_MAX_UNPACKED_MB", default=200)
KNOWLEDGE_EXTRACTION_MAX_COMPRESSION_RATIO = env.int(
    "KNOWLEDGE_EXTRACTION_MAX_COMPRESSION_RATIO", default=500
)
# Documents of one organization processed at once (across all workers); its other
# documents wait their turn so one organization's uploads cannot starve the others'.
# See docs/adr/0013-ingestion-fairness.md. 0 turns the limit off.
KNOWLEDGE_INGESTION_CONCURRENCY_PER_ORGANIZATION = env.int(
    "KNOWLEDGE_INGESTION_CONCURRENCY_PER_ORGANIZATION", default=1
)
# Seconds a document of an organization at its limit waits before it asks again.
KNOWLEDGE_INGESTION_REQUEUE_SECONDS = env.int("KNOWLEDGE_INGESTION_REQUEUE_SECONDS", default=5)

# Documents from URLs (knowledge_base/web_sources.py, docs/knowledge.md): fetched through
# the outbound HTTP policy (core/outbound.py), robots.txt respected.
KNOWLEDGE_WEB_USER_AGENT = env(
    "KNOWLEDGE_WEB_USER_AGENT", default="AssistantPlatformBot/1.0 (+knowledge collections)"
)
# A page or sitemap larger than this is refused (bytes, after decompression).
KNOWLEDGE_WEB_MAX_BYTES = env.int("KNOWLEDGE_WEB_MAX_BYTES", default=5 * 1024 * 1024)
# Seconds one fetch may take, connection to last byte.
KNOWLEDGE_WEB_TIMEOUT_SECONDS = env.float("KNOWLEDGE_WEB_TIMEOUT_SECONDS", default=20.0)
# Minutes between fetches of a page or sitemap when its own interval is not given.
KNOWLEDGE_WEB_REFRESH_MINUTES = env.int("KNOWLEDGE_WEB_REFRESH_MINUTES", default=1440)
# Pages one sitemap may bring (an index's sitemaps together), and sitemaps of one index.
KNOWLEDGE_SITEMAP_MAX_URLS = env.int("KNOWLEDGE_SITEMAP_MAX_URLS", default=1000)
KNOWLEDGE_SITEMAP_MAX_CHILDREN = env.int("KNOWLEDGE_SITEMAP_MAX_CHILDREN", default=50)
# Pages and sitemaps queued per run of the due sweep (beat, every minute), per organization.
KNOWLEDGE_WEB_REFRESH_BATCH = env.int("KNOWLEDGE_WEB_REFRESH_BATCH", default=200)
# Seconds a site's robots.txt is reused before it is read again (RFC 9309: at most a day;
# 0 reads it for every fetch).
KNOWLEDGE_ROBOTS_CACHE_SECONDS = env.int("KNOWLEDGE_ROBOTS_CACHE_SECONDS", default=3600)
# Least seconds between two requests to one host, whatever its robots.txt says; and the
# most we honour of a robots.txt Crawl-delay / Request-rate.
KNOWLEDGE_WEB_HOST_DELAY_SECONDS = env.float("KNOWLEDGE_WEB_HOST_DELAY_SECONDS", default=0.0)
KNOWLEDGE_WEB_MAX_CRAWL_DELAY_SECONDS = env.float(
    "KNOWLEDGE_WEB_MAX_CRAWL_DELAY_SECONDS", default=60.0
)

# Files API and chat attachments (files/, docs/files.md).
FILES_MAX_UPLOAD_BYTES = env.int("FILES_MAX_UPLOAD_BYTES", default=25 * 1024 * 1024)
FILES_MAX_PER_UPLOAD = env.int("FILES_MAX_PER_UPLOAD", default=10)
# Seconds a download link to S3 stays valid (local disk streams through the platform).
FILES_DOWNLOAD_URL_SECONDS = env.int("FILES_DOWNLOAD_URL_SECONDS", default=300)
# An attachment up to this many tokens goes whole into the context; a larger one is
# chunked and its passages retrieved against the question.
CHAT_ATTACHMENT_WHOLE_TOKENS = env.int("CHAT_ATTACHMENT_WHOLE_TOKENS", default=6000)
# Images sent to vision models: larger ones are scaled down to this longest side;
# above FILES_IMAGE_MAX_PIXELS an image is refused at upload.
FILES_IMAGE_MAX_SIDE = env.int("FILES_IMAGE_MAX_SIDE", default=1568)
FILES_IMAGE_MAX_PIXELS = env.int("FILES_IMAGE_MAX_PIXELS", default=50_000_000)
