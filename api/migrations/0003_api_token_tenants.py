from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0002_api_token_queues"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="tenants",
            field=models.JSONField(
                blank=True,
                default=list,
                help_text="The tenants whose tasks the token may touch; empty: every tenant's.",
            ),
        ),
    ]
