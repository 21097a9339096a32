"""The exception hierarchy. Every error the engine raises is a TaskQueueError.

Messages name the bad value and, where there is a fixed set, the allowed ones, so
the API and the console can show them to a user unchanged.
"""


class TaskQueueError(Exception):
    """Base class of every taskqueue error."""


class ConfigurationError(TaskQueueError):
    """The TASKQUEUE setting is invalid (system checks report the same problems)."""


class ValidationError(TaskQueueError, ValueError):
    """Bad input to an enqueue or an operator action. `field` names the culprit."""

    def __init__(self, message: str, *, field: str | None = None):
        super().__init__(message)
        self.field = field


class InvalidPriority(ValidationError):
    pass


class InvalidQueueName(ValidationError):
    pass


class SerializationError(ValidationError):
    """Arguments or a result cannot be represented as JSON (taskqueue never pickles)."""


class PayloadTooLarge(ValidationError):
    pass


class PayloadInvalid(ValidationError):
    """A call's arguments do not fit the task's parameters and their type hints
    (docs/tasks.md#typed-arguments). `fields` maps each bad argument's JSON path
    (`args[1]`, `kwargs.user.email`) to what was expected; `field` is the first."""

    def __init__(self, task_name: str, fields: dict[str, str]):
        detail = "; ".join(message.removesuffix(".") for message in fields.values())
        super().__init__(f"Invalid arguments for {task_name}: {detail}.", field=next(iter(fields)))
        self.task_name = task_name
        self.fields = fields


class TaskNotFound(TaskQueueError, LookupError):
    """No task is registered under this name."""

    def __init__(self, name: str):
        super().__init__(f"No task is registered under the name {name!r}.")
        self.name = name


class DuplicateTaskName(TaskQueueError):
    """Two functions were registered under one task name."""


class TaskDoesNotExist(TaskQueueError, LookupError):
    """No task record with this id exists (it never did, or it expired or was deleted)."""

    def __init__(self, task_id: str):
        super().__init__(f"No task with id {task_id!r} exists.")
        self.task_id = task_id


class QueueDoesNotExist(TaskQueueError, LookupError):
    """No queue by this name is configured (TASKQUEUE["QUEUES"]) or in use."""

    def __init__(self, queue: str):
        super().__init__(f"No queue named {queue!r} is configured or in use.")
        self.queue = queue


class InvalidTransition(TaskQueueError):
    """The action is not allowed in the task's current status."""

    def __init__(self, task_id: str, action: str, status: str):
        super().__init__(f"Cannot {action} task {task_id}: it is {status}.")
        self.task_id = task_id
        self.action = action
        self.status = status


class QuotaExceeded(TaskQueueError):
    """The enqueue would take a queue's or a tenant's backlog past its maximum
    (TASKQUEUE["LIMITS"]: max_backlog, tenant_backlog): nothing was written.
    docs/flow-control.md#quotas"""

    def __init__(self, queue: str, tenant: str | None, backlog: int, maximum: int):
        whose = f"tenant {tenant!r} in queue {queue!r}" if tenant else f"queue {queue!r}"
        super().__init__(
            f"The backlog of {whose} is {backlog:,} unfinished tasks; its maximum is "
            f"{maximum:,}. Try again when it has gone down."
        )
        self.queue = queue
        self.tenant = tenant
        self.backlog = backlog
        self.maximum = maximum


class BrokerUnavailable(TaskQueueError):
    """Redis could not be reached or did not answer in time."""


class DamagedKey(TaskQueueError):
    """A Redis key has the wrong type (anyone with access to Redis can write any key)
    and could not be moved out of the way (see broker/damage.py): the operation
    changed nothing. `keys` names them."""

    def __init__(self, message: str, keys: list[str]):
        super().__init__(message)
        self.keys = keys


class TaskFailed(TaskQueueError):
    """Raised by TaskHandle.result() when the task ended in the dead-letter queue."""

    def __init__(self, task_id: str, error_type: str, error_message: str, traceback: str):
        super().__init__(f"Task {task_id} failed: {error_type}: {error_message}")
        self.task_id = task_id
        self.error_type = error_type
        self.error_message = error_message
        self.traceback = traceback


class TaskCancelled(TaskQueueError):
    """Raised by TaskHandle.result() when the task was cancelled."""


class ResultTimeout(TaskQueueError, TimeoutError):
    """TaskHandle.wait() ran out of time before the task finished."""


class TaskTimeout(TaskQueueError):
    """A running task went past its time limit."""


class Retry(Exception):
    """Raise from a task to ask for another attempt, optionally after `countdown` seconds.

    It counts as a failed attempt, so `max_retries` still bounds it.
    """

    def __init__(self, countdown: float | None = None, reason: str = ""):
        super().__init__(reason or "retry requested")
        self.countdown = countdown
        self.reason = reason


class WorkflowDoesNotExist(TaskQueueError, LookupError):
    def __init__(self, workflow_id: str):
        super().__init__(f"no workflow with id {workflow_id!r}")
        self.workflow_id = workflow_id


class WorkflowCompleted(InvalidTransition):
    """A completed workflow cannot be cancelled."""

    def __init__(self, workflow_id: str):
        TaskQueueError.__init__(
            self, f"Workflow {workflow_id!r} has completed: there is nothing to cancel."
        )
        self.task_id, self.action, self.status = workflow_id, "cancel", "completed"
