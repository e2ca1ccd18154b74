"""A message's search entry goes with it in the database too (ON DELETE CASCADE).

The indexer (chat/conversations/indexing.py) writes entries from a Celery worker while a
person may be deleting the session: Django's delete collects the entries it can see,
then the indexer commits one more, and the delete's deferred foreign-key check failed
at commit (the session stayed, the person got an error). With the cascade in the
constraint, PostgreSQL removes whatever entry exists when the message goes. Django's
``on_delete=CASCADE`` stays as it was; only the constraints change (same names).
"""

from django.db import migrations

COLUMNS = (("message_id", "chat_message"), ("session_id", "chat_chatsession"))


def _sql(on_delete: str) -> str:
    statements = []
    for column, target in COLUMNS:
        statements.append(
            f"""
DO $$
DECLARE name text;
BEGIN
    SELECT con.conname INTO name
    FROM pg_constraint con
    JOIN pg_attribute att ON att.attrelid = con.conrelid AND att.attnum = con.conkey[1]
    WHERE con.conrelid = 'chat_messagesearchentry'::regclass
      AND con.contype = 'f' AND att.attname = '{column}';
    EXECUTE format('ALTER TABLE chat_messagesearchentry DROP CONSTRAINT %I', name);
    EXECUTE format(
        'ALTER TABLE chat_messagesearchentry ADD CONSTRAINT %I FOREIGN KEY ({column}) '
        'REFERENCES {target} (id) {on_delete} DEFERRABLE INITIALLY DEFERRED',
        name
    );
END $$;"""  # noqa: S608 - the names are this module's constants
        )
    return "\n".join(statements)


class Migration(migrations.Migration):
    dependencies = [("chat", "0007_continued_from_and_search_pending")]

    operations = [
        migrations.RunSQL(sql=_sql("ON DELETE CASCADE"), reverse_sql=_sql("")),
    ]
