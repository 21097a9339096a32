"""The TASKQUEUE_API setting: options of the JSON API, with their defaults.

    TASKQUEUE_API = {"MAX_BODY_BYTES": 1_048_576, "METRICS_PUBLIC_NETWORKS": ["10.0.0.0/8"]}

`problems()` feeds the system checks (api.E001...); `api_settings()` is read per
request, so override_settings in tests works without a cache to reset.
"""

import ipaddress
from dataclasses import dataclass
from typing import Any

from django.conf import settings

DEFAULT_MAX_BODY_BYTES = 1_048_576  # 1 MiB: larger request bodies get a 413


@dataclass(frozen=True)
class ApiSettings:
    MAX_BODY_BYTES: int = DEFAULT_MAX_BODY_BYTES
    # Client networks that may read /metrics without a token (e.g. the Prometheus
    # server's subnet). Empty: /metrics needs a token with the `read` scope.
    METRICS_PUBLIC_NETWORKS: tuple[str, ...] = ()

    def metrics_public_for(self, address: str | None) -> bool:
        try:
            ip = ipaddress.ip_address(address or "")
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(net) for net in self.METRICS_PUBLIC_NETWORKS)


OPTIONS = set(ApiSettings.__dataclass_fields__)


def problems(raw: Any) -> list[tuple[str, str]]:
    """Every problem with a TASKQUEUE_API value, as (check id, message)."""
    if raw is None:
        return []
    if not isinstance(raw, dict):
        return [("E001", f"TASKQUEUE_API must be a dict, not {type(raw).__name__}.")]
    found = []
    unknown = sorted(map(str, set(raw) - OPTIONS))
    if unknown:
        found.append(("E002", f"Unknown TASKQUEUE_API option(s): {', '.join(unknown)}."))
    size = raw.get("MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)
    if type(size) is not int or size < 1:
        found.append(("E003", f"TASKQUEUE_API['MAX_BODY_BYTES'] must be an int >= 1: {size!r}."))
    networks = raw.get("METRICS_PUBLIC_NETWORKS", ())
    if not isinstance(networks, (list, tuple)):
        return [*found, ("E004", "TASKQUEUE_API['METRICS_PUBLIC_NETWORKS'] must be a list.")]
    for net in networks:
        try:
            ipaddress.ip_network(net)
        except (TypeError, ValueError):
            found.append(("E004", f"{net!r} in METRICS_PUBLIC_NETWORKS is not a network."))
    return found


def api_settings() -> ApiSettings:
    raw = getattr(settings, "TASKQUEUE_API", None) or {}
    if problems(raw):
        return ApiSettings()  # the system checks report the problem; run on safe defaults
    values = {k: v for k, v in raw.items() if k in OPTIONS}
    if "METRICS_PUBLIC_NETWORKS" in values:
        values["METRICS_PUBLIC_NETWORKS"] = tuple(values["METRICS_PUBLIC_NETWORKS"])
    return ApiSettings(**values)
