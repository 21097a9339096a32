from django.apps import AppConfig
from django.db.models.signals import m2m_changed, post_delete, post_save


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "JSON API"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.models import Group

        from . import checks  # noqa: F401 - the checks register themselves
        from .models import ApiToken

        # Looked-up tokens are cached briefly (tokens.find_token); any change to who
        # holds what, made in this process, drops the cache at once and at commit.
        user = get_user_model()
        for sender in (user, Group, ApiToken):
            post_save.connect(_forget, sender=sender, dispatch_uid=f"api-forget-{sender.__name__}")
            post_delete.connect(
                _forget, sender=sender, dispatch_uid=f"api-forget-d-{sender.__name__}"
            )
        for through in (
            user.user_permissions.through,
            user.groups.through,
            Group.permissions.through,
        ):
            m2m_changed.connect(
                _forget, sender=through, dispatch_uid=f"api-forget-m2m-{through.__name__}"
            )


def _forget(**kwargs) -> None:
    from .tokens import forget_tokens_on_commit

    forget_tokens_on_commit()
