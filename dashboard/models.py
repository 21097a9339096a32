"""The console's one table: recent failed password logins (dashboard/logins.py)."""

from django.db import models


class LoginThrottle(models.Model):
    """Failed password logins of one account name or one client address. They lock it
    while `failures` is at the kind's limit and `expires_at` is ahead; the row is
    forgotten at `expires_at` (the end of the counting window, or of the lock)."""

    class Kind(models.TextChoices):
        ACCOUNT = "account"
        ADDRESS = "address"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    value = models.CharField(max_length=150)  # the username as typed, or an IP address
    failures = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "value"], name="dashboard_login_throttle_key")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.value}: {self.failures} failures until {self.expires_at}"
