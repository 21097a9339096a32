"""One JSON shape for every API error, and the engine's exceptions mapped onto it.

    {"error": {"code": "validation_error", "message": "...", "fields": {"priority": "..."}}}

Views raise ApiError (or let a TaskQueueError through); `routing.route` turns either
into a response. Anything else is a bug, not something to hide behind a 500.
"""

from django.http import JsonResponse

from taskqueue.errors import (
    BrokerUnavailable,
    DamagedKey,
    InvalidTransition,
    QueueDoesNotExist,
    QuotaExceeded,
    TaskDoesNotExist,
    TaskNotFound,
    TaskQueueError,
    ValidationError,
    WorkflowDoesNotExist,
)


class ApiError(Exception):
    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or {}
        self.headers = headers or {}

    def response(self) -> JsonResponse:
        return error_response(self.status, self.code, self.message, self.fields, self.headers)


def error_response(
    status: int,
    code: str,
    message: str,
    fields: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> JsonResponse:
    body = {"error": {"code": code, "message": message, "fields": fields or {}}}
    return JsonResponse(body, status=status, headers=headers)


def invalid(field: str, message: str) -> ApiError:
    """A 422 naming one field."""
    return ApiError(422, "validation_error", message, {field: message})


def from_engine(exc: TaskQueueError) -> ApiError:
    """The API error for an engine exception (the engine's message, unchanged)."""
    message = str(exc)
    if isinstance(exc, ValidationError):
        return ApiError(422, "validation_error", message, {exc.field or "body": message})
    if isinstance(exc, TaskNotFound):
        return ApiError(422, "unknown_task", message, {"task": message})
    if isinstance(exc, (TaskDoesNotExist, QueueDoesNotExist, WorkflowDoesNotExist)):
        return ApiError(404, "not_found", message)
    if isinstance(exc, InvalidTransition):
        return ApiError(409, "invalid_transition", message)
    if isinstance(exc, QuotaExceeded):  # nothing was written; docs/flow-control.md#quotas
        return ApiError(429, "quota_exceeded", message, headers={"Retry-After": "5"})
    if isinstance(exc, BrokerUnavailable):
        return ApiError(503, "broker_unavailable", message, headers={"Retry-After": "5"})
    if isinstance(exc, DamagedKey):
        return ApiError(503, "damaged_key", message)
    raise exc
