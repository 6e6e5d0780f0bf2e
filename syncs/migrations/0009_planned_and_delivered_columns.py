"""A planned batch's users and a delivered user are stored in the member's columns instead
of one JSON object per user.

Building a JSON object per user in SQL (`properties || jsonb_build_object(...)`, then
aggregating them) was about half of a first sync of a million members; a batch now stores
one JSON array per column (keys, partner ids, user ids, Amplitude ids, device ids, emails,
properties), and the delivered state the same columns as a cohort member, so settling
copies them without building or parsing a user. Existing rows are split into the columns
(and joined back when the migration is reversed); the user a template sees is the same
(`portal.models.member_user`).
"""

from django.db import migrations, models

BATCHES = "syncs_syncbatch"
DELIVERED = "syncs_deliveredmember"
IDENTIFIERS = ("user_id", "amplitude_id", "device_id", "email")
COLUMNS = (
    "member_keys",
    "partner_ids",
    "user_ids",
    "amplitude_ids",
    "device_ids",
    "emails",
    "properties",
)
CHUNK = 1000


def _amplitude_id(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _split(user):
    """(user_id, amplitude_id, device_id, email, properties) of a user object."""
    user = user if isinstance(user, dict) else {}
    properties = {name: value for name, value in user.items() if name not in IDENTIFIERS}
    return (
        str(user.get("user_id") or ""),
        _amplitude_id(user.get("amplitude_id")),
        str(user.get("device_id") or ""),
        str(user.get("email") or ""),
        properties,
    )


def _join(user_id, amplitude_id, device_id, email, properties):
    return {
        **(properties or {}),
        "user_id": user_id or None,
        "amplitude_id": amplitude_id,
        "device_id": device_id or None,
        "email": email or None,
    }


# --- forwards --------------------------------------------------------------------------

SPLIT_DELIVERED_SQL = f"""
UPDATE {DELIVERED} SET
    user_id = COALESCE("user"->>'user_id', ''),
    amplitude_id = CASE WHEN jsonb_typeof("user"->'amplitude_id') = 'number'
        THEN ("user"->>'amplitude_id')::numeric::bigint END,
    device_id = COALESCE("user"->>'device_id', ''),
    email = COALESCE("user"->>'email', ''),
    properties = CASE WHEN jsonb_typeof("user") = 'object'
        THEN "user" - 'user_id' - 'amplitude_id' - 'device_id' - 'email' ELSE '{{}}' END
"""

SPLIT_BATCHES_SQL = f"""
UPDATE {BATCHES} b SET
    member_keys = c.member_keys, partner_ids = c.partner_ids, user_ids = c.user_ids,
    amplitude_ids = c.amplitude_ids, device_ids = c.device_ids, emails = c.emails,
    properties = c.properties
FROM (
    SELECT s.id,
        jsonb_agg(e->0 ORDER BY o) AS member_keys,
        jsonb_agg(COALESCE(e->2, 'null') ORDER BY o) AS partner_ids,
        jsonb_agg(to_jsonb(COALESCE(e->1->>'user_id', '')) ORDER BY o) AS user_ids,
        jsonb_agg(CASE WHEN jsonb_typeof(e->1->'amplitude_id') = 'number'
            THEN e->1->'amplitude_id' ELSE 'null' END ORDER BY o) AS amplitude_ids,
        jsonb_agg(to_jsonb(COALESCE(e->1->>'device_id', '')) ORDER BY o) AS device_ids,
        jsonb_agg(to_jsonb(COALESCE(e->1->>'email', '')) ORDER BY o) AS emails,
        jsonb_agg(CASE WHEN jsonb_typeof(e->1) = 'object'
            THEN (e->1) - 'user_id' - 'amplitude_id' - 'device_id' - 'email'
            ELSE '{{}}' END ORDER BY o) AS properties
    FROM {BATCHES} s CROSS JOIN LATERAL jsonb_array_elements(s.users_json)
        WITH ORDINALITY AS x(e, o)
    GROUP BY s.id
) c
WHERE b.id = c.id
"""


def split(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(SPLIT_DELIVERED_SQL)
        schema_editor.execute(SPLIT_BATCHES_SQL)
        return
    SyncBatch = apps.get_model("syncs", "SyncBatch")
    DeliveredMember = apps.get_model("syncs", "DeliveredMember")
    for row in DeliveredMember.objects.iterator(chunk_size=CHUNK):
        row.user_id, row.amplitude_id, row.device_id, row.email, row.properties = _split(row.user)
        row.save(update_fields=[*IDENTIFIERS, "properties"])
    for batch in SyncBatch.objects.exclude(users_json=[]).iterator(chunk_size=CHUNK):
        columns = [[] for _ in COLUMNS]
        for element in batch.users_json:
            key, user, partner_id = (list(element) + [None, None])[:3]
            for column, value in zip(columns, (key, partner_id, *_split(user)), strict=True):
                column.append(value)
        for name, column in zip(COLUMNS, columns, strict=True):
            setattr(batch, name, column)
        batch.save(update_fields=list(COLUMNS))


# --- backwards -------------------------------------------------------------------------

JOIN_DELIVERED_SQL = f"""
UPDATE {DELIVERED} SET "user" = properties || jsonb_build_object(
    'user_id', NULLIF(user_id, ''), 'amplitude_id', amplitude_id,
    'device_id', NULLIF(device_id, ''), 'email', NULLIF(email, ''))
"""

JOIN_BATCHES_SQL = f"""
UPDATE {BATCHES} b SET users_json = c.users
FROM (
    SELECT s.id, jsonb_agg(jsonb_build_array(u.member_key, u.properties || jsonb_build_object(
        'user_id', NULLIF(u.user_id #>> '{{}}', ''), 'amplitude_id', u.amplitude_id,
        'device_id', NULLIF(u.device_id #>> '{{}}', ''),
        'email', NULLIF(u.email #>> '{{}}', '')), u.partner_id) ORDER BY u.o) AS users
    FROM {BATCHES} s CROSS JOIN LATERAL ROWS FROM (
        jsonb_array_elements(s.member_keys), jsonb_array_elements(s.partner_ids),
        jsonb_array_elements(s.user_ids), jsonb_array_elements(s.amplitude_ids),
        jsonb_array_elements(s.device_ids), jsonb_array_elements(s.emails),
        jsonb_array_elements(s.properties)
    ) WITH ORDINALITY AS u(member_key, partner_id, user_id, amplitude_id, device_id, email,
        properties, o)
    GROUP BY s.id
) c
WHERE b.id = c.id
"""


def join(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(JOIN_DELIVERED_SQL)
        schema_editor.execute(JOIN_BATCHES_SQL)
        return
    SyncBatch = apps.get_model("syncs", "SyncBatch")
    DeliveredMember = apps.get_model("syncs", "DeliveredMember")
    for row in DeliveredMember.objects.iterator(chunk_size=CHUNK):
        row.user = _join(row.user_id, row.amplitude_id, row.device_id, row.email, row.properties)
        row.save(update_fields=["user"])
    for batch in SyncBatch.objects.exclude(member_keys=[]).iterator(chunk_size=CHUNK):
        columns = [getattr(batch, name) for name in COLUMNS]
        batch.users_json = [
            [key, _join(*user), partner_id]
            for key, partner_id, *user in zip(*columns, strict=True)
        ]
        batch.save(update_fields=["users_json"])


def compression(method: str):
    """A batch's columns are compressed with lz4 where the server has it (see 0007)."""

    def apply(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        columns = ", ".join(f"ALTER COLUMN {name} SET COMPRESSION {method}" for name in COLUMNS)
        schema_editor.execute(
            f"DO $$ BEGIN ALTER TABLE {BATCHES} {columns}; "
            "EXCEPTION WHEN feature_not_supported THEN NULL; END $$"
        )

    return apply


def _json_list():
    return models.JSONField(default=list)


class Migration(migrations.Migration):
    dependencies = [("syncs", "0008_member_key_bytewise")]

    operations = [
        *(
            migrations.AddField(model_name="syncbatch", name=name, field=_json_list())
            for name in COLUMNS
        ),
        migrations.AddField(
            model_name="deliveredmember",
            name="user_id",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="deliveredmember",
            name="amplitude_id",
            field=models.BigIntegerField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="deliveredmember",
            name="device_id",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.AddField(
            model_name="deliveredmember",
            name="email",
            field=models.CharField(blank=True, max_length=254),
        ),
        migrations.AddField(
            model_name="deliveredmember",
            name="properties",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(split, join),
        migrations.RemoveField(model_name="syncbatch", name="users_json"),
        migrations.RemoveField(model_name="deliveredmember", name="user"),
        migrations.RunPython(compression("lz4"), compression("pglz")),
    ]
