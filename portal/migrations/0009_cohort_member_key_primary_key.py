import django.db.models
from django.db import migrations

import portal.models

# Members are stored by (cohort, key) with no surrogate id (see CohortMember.pk). Django
# does not migrate a table to a composite primary key, so the tables are changed here and
# the models' state separately.
POSTGRESQL_FORWARD = [
    "ALTER TABLE portal_cohortmember DROP CONSTRAINT one_member_per_key",
    "ALTER TABLE portal_cohortmember DROP COLUMN id",
    "ALTER TABLE portal_cohortmember ADD CONSTRAINT portal_cohortmember_pkey "
    "PRIMARY KEY (cohort_id, member_key)",
]
POSTGRESQL_BACKWARD = [
    "ALTER TABLE portal_cohortmember DROP CONSTRAINT portal_cohortmember_pkey",
    "ALTER TABLE portal_cohortmember ADD COLUMN id bigserial PRIMARY KEY",
    "ALTER TABLE portal_cohortmember ADD CONSTRAINT one_member_per_key "
    "UNIQUE (cohort_id, member_key)",
]
# SQLite alters a primary key by copying the table, as Django does for every change there.
SQLITE_COLUMNS = "cohort_id, member_key, user_id, amplitude_id, device_id, email, properties"
SQLITE_DEFINITIONS = (
    '"cohort_id" bigint NOT NULL, "member_key" varchar(210) NOT NULL, '
    '"user_id" varchar(200) NOT NULL, "amplitude_id" bigint NULL, '
    '"device_id" varchar(200) NOT NULL, "email" varchar(254) NOT NULL, '
    '"properties" text NOT NULL CHECK ((JSON_VALID("properties") OR "properties" IS NULL))'
)


def _sqlite_copy(definition: str) -> list[str]:
    return [
        f'CREATE TABLE "new__portal_cohortmember" ({definition})',
        f'INSERT INTO "new__portal_cohortmember" ({SQLITE_COLUMNS}) '
        f'SELECT {SQLITE_COLUMNS} FROM "portal_cohortmember"',
        'DROP TABLE "portal_cohortmember"',
        'ALTER TABLE "new__portal_cohortmember" RENAME TO "portal_cohortmember"',
    ]


SQLITE_FORWARD = _sqlite_copy(f'{SQLITE_DEFINITIONS}, PRIMARY KEY ("cohort_id", "member_key")')
SQLITE_BACKWARD = _sqlite_copy(
    f'"id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, {SQLITE_DEFINITIONS}, '
    'CONSTRAINT "one_member_per_key" UNIQUE ("cohort_id", "member_key")'
)


def _run(statements: dict[str, list[str]]):
    def run(apps, schema_editor):
        for statement in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("portal", "0008_outbound_mail_accounts_cache"),
    ]

    operations = [
        migrations.AlterField(
            model_name="cohortchange",
            name="member_key",
            field=portal.models.MemberKeyField(max_length=210),
        ),
        migrations.AlterField(
            model_name="cohortmember",
            name="member_key",
            field=portal.models.MemberKeyField(max_length=210),
        ),
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunPython(
                    _run({"postgresql": POSTGRESQL_FORWARD, "sqlite": SQLITE_FORWARD}),
                    _run({"postgresql": POSTGRESQL_BACKWARD, "sqlite": SQLITE_BACKWARD}),
                ),
            ],
            state_operations=[
                migrations.RemoveConstraint(
                    model_name="cohortmember",
                    name="one_member_per_key",
                ),
                migrations.AddField(
                    model_name="cohortmember",
                    name="pk",
                    field=django.db.models.CompositePrimaryKey(
                        "cohort_id",
                        "member_key",
                        blank=True,
                        editable=False,
                        primary_key=True,
                        serialize=False,
                    ),
                ),
                migrations.RemoveField(
                    model_name="cohortmember",
                    name="id",
                ),
            ],
        ),
    ]
