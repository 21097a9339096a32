"""The task registry: task name -> Task. Names are only ever looked up here, so
enqueuing or running a task by name never imports anything."""

from collections.abc import Iterator
from typing import TYPE_CHECKING

from .errors import DuplicateTaskName, TaskNotFound

if TYPE_CHECKING:
    from .definition import Task


class Registry:
    def __init__(self) -> None:
        self._tasks: dict[str, Task] = {}

    def register(self, task: "Task") -> None:
        existing = self._tasks.get(task.name)
        if existing is not None and existing.path != task.path:
            raise DuplicateTaskName(
                f"Task name {task.name!r} is already registered by {existing.path}; "
                f"{task.path} cannot take it too. Give one of them another name=."
            )
        self._tasks[task.name] = task  # the same function re-imported replaces itself

    def unregister(self, name: str) -> None:
        self._tasks.pop(name, None)

    def get(self, name: str) -> "Task":
        try:
            return self._tasks[name]
        except (KeyError, TypeError):
            raise TaskNotFound(str(name)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._tasks

    def __iter__(self) -> Iterator["Task"]:
        return iter(list(self._tasks.values()))

    def __len__(self) -> int:
        return len(self._tasks)


registry = Registry()
