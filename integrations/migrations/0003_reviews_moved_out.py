# Review comments and conformance runs now belong to the reviews app (its 0001 takes over
# their tables); this removes them from this app's state without touching the database.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("integrations", "0002_versions_reviews_destinations"),
        ("reviews", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.DeleteModel(name="ReviewComment"),
                migrations.DeleteModel(name="ConformanceRun"),
            ],
            database_operations=[],
        ),
    ]
