"""API tokens in the Django admin: create (the secret is shown once, on the page that
follows), list, revoke. Tokens are never edited or deleted: revoking keeps the record
the audit trail points at. A non-superuser may only create tokens for themselves."""

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from taskqueue.audit import Actor
from taskqueue.errors import ValidationError

from .models import ApiToken
from .tokens import clean_queues, clean_tenants, create_token, missing_permissions, revoke_token


class ApiTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=ApiToken.Scope.choices, widget=forms.CheckboxSelectMultiple
    )
    queues = forms.CharField(
        required=False,
        help_text="Comma-separated queues the token is limited to; empty: every queue.",
    )
    tenants = forms.CharField(
        required=False,
        help_text="Comma-separated tenants whose tasks the token is limited to; empty: anyone's.",
    )

    class Meta:
        model = ApiToken
        fields = ["user", "name", "scopes", "queues", "tenants"]

    def clean_queues(self) -> list[str]:
        return _listed(self.cleaned_data.get("queues"), clean_queues)

    def clean_tenants(self) -> list[str]:
        return _listed(self.cleaned_data.get("tenants"), clean_tenants)

    def clean(self):
        cleaned = super().clean()
        user, scopes = cleaned.get("user"), cleaned.get("scopes") or []
        missing = missing_permissions(user, scopes) if user is not None else []
        if missing:
            raise forms.ValidationError(
                f"{user.get_username()} lacks {', '.join(missing)}; grant it first, "
                "or choose fewer scopes (a token never has more rights than its user)."
            )
        return cleaned


def _listed(raw: str | None, clean) -> list[str]:
    """A comma-separated field's names, checked by `clean` (tokens.py)."""
    try:
        return clean(n.strip() for n in (raw or "").split(",") if n.strip())
    except ValidationError as exc:
        raise forms.ValidationError(str(exc)) from None


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = [
        "name", "prefix", "user", "scopes", "queues_shown", "tenants_shown", "created_at",
        "last_used_at", "revoked_at",
    ]  # fmt: skip
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    readonly_fields = [
        "user",
        "name",
        "prefix",
        "scopes",
        "queues_shown",
        "tenants_shown",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    actions = ["revoke"]

    @admin.display(description="queues")
    def queues_shown(self, obj: ApiToken) -> str:
        return ", ".join(obj.queues) if obj.queues else "every queue"

    @admin.display(description="tenants")
    def tenants_shown(self, obj: ApiToken) -> str:
        return ", ".join(obj.tenants) if obj.tenants else "any tenant"

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj is not None else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user" and not request.user.is_superuser:
            kwargs["queryset"] = db_field.related_model.objects.filter(pk=request.user.pk)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change) -> None:
        if change:
            return  # tokens are immutable; only revoking changes them
        data = form.cleaned_data
        token, secret = create_token(
            Actor.from_request(request, "admin"),
            data["user"],
            data["name"],
            data["scopes"],
            data["queues"],
            data["tenants"],
        )
        obj.pk, obj.prefix, obj._secret = token.pk, token.prefix, secret

    def response_add(self, request, obj, post_url_continue=None):
        """Show the secret on this one page (never in a redirect, a message or a log)."""
        context = {**self.admin_site.each_context(request), "token": obj, "secret": obj._secret,
                   "opts": self.opts, "title": "API token created"}  # fmt: skip
        response = TemplateResponse(request, "api/token_created.html", context)
        response["Cache-Control"] = "no-store"
        return response

    @admin.action(description="Revoke the selected tokens", permissions=["change"])
    def revoke(self, request, queryset) -> None:
        actor = Actor.from_request(request, "admin")
        revoked = sum(revoke_token(actor, token) for token in queryset.select_related("user"))
        self.message_user(request, f"Revoked {revoked} token(s).", messages.SUCCESS)
