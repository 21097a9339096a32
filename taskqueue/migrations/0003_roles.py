"""The two roles, as groups: viewers see the console, the API's reads and the admin
pages of the audit trail and the archive; operators may also act on tasks and queues.
(Admin pages also need the user's is_staff flag, which a group cannot give.)"""

from django.contrib.auth.management import create_permissions
from django.db import migrations

VIEW = ["view_console", "view_auditevent", "view_taskarchive"]
ROLES = {
    "Task queue viewers": VIEW,
    "Task queue operators": [*VIEW, "operate_tasks"],
}


def create_roles(apps, schema_editor):
    db = schema_editor.connection.alias
    _create_permissions_now(apps, db)
    group_model = apps.get_model("auth", "Group")
    permission_model = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        permissions = list(
            permission_model.objects.using(db).filter(
                content_type__app_label="taskqueue", codename__in=codenames
            )
        )
        assert len(permissions) == len(codenames), f"missing permissions for {name}"
        group, _ = group_model.objects.using(db).get_or_create(name=name)
        group.permissions.add(*permissions)


def _create_permissions_now(apps, db):
    """Permissions are normally created after all migrations ran (post_migrate); the
    groups need them now."""
    config = apps.get_app_config("taskqueue")
    config.models_module = True
    create_permissions(config, apps=apps, verbosity=0, using=db)
    config.models_module = None


def delete_roles(apps, schema_editor):
    db = schema_editor.connection.alias
    apps.get_model("auth", "Group").objects.using(db).filter(name__in=list(ROLES)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("taskqueue", "0002_task_archive"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, delete_roles)]
