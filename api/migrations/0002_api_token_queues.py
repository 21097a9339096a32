from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_api_token"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="queues",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="The queues the token may touch; empty: every queue (its user may see).",
            ),
        ),
    ]
