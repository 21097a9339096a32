"""Where tasks live: each installed app's tasks.py and the modules TASKQUEUE["IMPORTS"]
lists are imported in every process (taskqueue/discovery.py); a bad IMPORTS is a system
check, and a module that defines tasks no worker imports is warned about."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.core import checks

from taskqueue import checks as taskqueue_checks
from taskqueue import conf, discovery
from taskqueue.errors import ConfigurationError
from taskqueue.registry import registry
from taskqueue.status import Status
from tests.support.results import finished
from tests.support.workers import run_burst, spawn_worker, task_env  # noqa: F401 - fixtures

JOBS = "tests.importsapp.jobs"
DOUBLE, SHOUT = f"{JOBS}.double", f"{JOBS}.shout"


@pytest.fixture(autouse=True)
def forget_the_test_modules(monkeypatch):
    """Each test imports tests/importsapp/ afresh and leaves no task of it registered,
    nor its own idea of what was loaded at start-up."""
    monkeypatch.setattr(discovery, "_loaded", discovery._loaded)
    yield
    for task in registry:
        if task.__module__.startswith("tests.importsapp."):
            registry.unregister(task.name)
    for name in [m for m in sys.modules if m.startswith("tests.importsapp.")]:
        del sys.modules[name]


@pytest.fixture
def imports(settings):
    """Set TASKQUEUE["IMPORTS"] for this test."""

    def set_imports(value):
        settings.TASKQUEUE = {**settings.TASKQUEUE, "IMPORTS": value}

    return set_imports


def checked(check_id: str) -> list[checks.CheckMessage]:
    return [m for m in checks.run_checks(tags=["taskqueue", "urls"]) if m.id == check_id]


def jobs_warnings() -> list[checks.CheckMessage]:
    return [w for w in taskqueue_checks.check_task_modules() if w.obj == JOBS]


# -- the setting -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "named"),
    [
        ("tests.importsapp.jobs", "must be a list of module names, not 'tests.importsapp.jobs'"),
        ({"jobs": 1}, "must be a list of module names"),
        ([3], "3 in TASKQUEUE['IMPORTS'] is not a dotted module path"),
        ([""], "'' in TASKQUEUE['IMPORTS'] is not a dotted module path"),
        ([".jobs"], "'.jobs' in TASKQUEUE['IMPORTS'] is not a dotted module path"),
        (["myapp/jobs.py"], "'myapp/jobs.py' in TASKQUEUE['IMPORTS'] is not a dotted"),
        (["myapp..jobs"], "'myapp..jobs' in TASKQUEUE['IMPORTS'] is not a dotted"),
        (["myapp.jobs "], "'myapp.jobs ' in TASKQUEUE['IMPORTS'] is not a dotted"),
    ],
)
def test_a_malformed_imports_is_a_check_error_naming_the_value(imports, value, named):
    imports(value)
    (error,) = checked("taskqueue.E014")
    assert named in error.msg and "myapp.jobs" in error.hint
    with pytest.raises(ConfigurationError, match=r"taskqueue\.E014"):
        conf.get_config()


def test_a_malformed_imports_is_never_imported(imports):
    imports(JOBS)  # a str, not a list: refused whole, not read letter by letter
    assert discovery.configured_imports() == ()
    discovery.import_task_modules()
    assert DOUBLE not in registry


def test_well_formed_imports_pass_and_become_a_tuple(imports):
    imports([JOBS, "tests.taskapp.django_tasks"])
    assert checked("taskqueue.E014") == checked("taskqueue.E015") == []
    assert conf.get_config().IMPORTS == (JOBS, "tests.taskapp.django_tasks")


def test_by_default_nothing_more_is_imported():
    assert conf.get_config().IMPORTS == ()
    assert discovery.configured_imports() == ()


def test_a_module_that_does_not_exist_is_a_check_error_naming_it(imports):
    imports(["tests.importsapp.nowhere"])
    (error,) = checked("taskqueue.E015")
    assert "'tests.importsapp.nowhere', which cannot be imported" in error.msg
    assert "No module named 'tests.importsapp.nowhere'" in error.msg


def test_a_module_whose_own_import_fails_is_a_check_error_naming_both(imports):
    imports(["tests.importsapp.needs_missing", JOBS])
    (error,) = checked("taskqueue.E015")
    assert "'tests.importsapp.needs_missing', which cannot be imported" in error.msg
    assert "No module named 'tq_no_such_dependency'" in error.msg


def test_loading_the_task_modules_reports_a_failed_import_instead_of_raising(imports):
    imports(["tests.importsapp.nowhere", JOBS])
    failed = discovery.import_task_modules()
    assert list(failed) == ["tests.importsapp.nowhere"]
    assert isinstance(failed["tests.importsapp.nowhere"], ModuleNotFoundError)
    assert DOUBLE in registry  # the next module is imported all the same


# -- loading -----------------------------------------------------------------------------


def test_the_app_loads_the_task_modules_with_the_function_tested_here(monkeypatch):
    from django.apps import apps

    import taskqueue.apps

    called = []
    monkeypatch.setattr(taskqueue.apps, "import_task_modules", lambda: called.append(1))
    apps.get_app_config("taskqueue").ready()
    assert called == [1]


def test_tasks_of_an_imports_module_are_registered_when_the_task_modules_load(imports):
    imports([JOBS])
    assert DOUBLE not in registry and SHOUT not in registry
    assert discovery.import_task_modules() == {}
    assert registry.get(DOUBLE).__module__ == JOBS  # native
    assert registry.get(SHOUT).__module__ == JOBS  # django.tasks, routed to our backend


def test_an_in_process_worker_runs_a_task_of_an_imports_module_by_name(imports):
    import taskqueue

    imports([JOBS])
    discovery.import_task_modules()
    handle = taskqueue.enqueue(DOUBLE, args=[21])
    run_burst()
    assert handle.result(timeout=5) == 42


# -- the warning -------------------------------------------------------------------------


def test_a_module_with_tasks_that_workers_do_not_import_is_warned_about():
    import tests.importsapp.jobs  # noqa: F401 - as a view would, after start-up

    (warning,) = jobs_warnings()
    assert warning.id == "taskqueue.W003" and warning.level == checks.WARNING
    assert f"the task(s) {DOUBLE}, {SHOUT}, but worker processes do not" in warning.msg
    assert f"add '{JOBS}' to TASKQUEUE['IMPORTS']" in warning.hint
    assert JOBS in [w.obj for w in checked("taskqueue.W003")]


def test_the_same_module_listed_in_imports_is_not_warned_about(imports):
    import tests.importsapp.jobs  # noqa: F401

    imports([JOBS])
    assert jobs_warnings() == []


def test_a_module_loaded_with_the_task_modules_is_not_warned_about(imports):
    imports([JOBS])
    discovery.import_task_modules()
    imports([])  # what was loaded at start-up stays loaded in every process
    assert jobs_warnings() == []


def test_modules_that_an_apps_tasks_py_imports_are_not_warned_about():
    # tests/taskapp/tasks.py imports django_tasks.py and fault_tasks.py: workers know them
    warned = [w.obj for w in taskqueue_checks.check_task_modules()]
    assert registry.get("tests.taskapp.django_tasks.add").__module__ not in warned
    assert "tests.taskapp.fault_tasks" not in warned
    assert "tests.taskapp.tasks" not in warned


# -- end to end --------------------------------------------------------------------------


def test_a_worker_process_runs_tasks_of_a_module_listed_in_imports(imports, spawn_worker):  # noqa: F811
    imports([JOBS])
    from tests.importsapp import jobs  # the web side: enqueue by the task objects

    spawn_worker("--concurrency", "2", env={"TASKQUEUE_EXTRA": json.dumps({"IMPORTS": [JOBS]})})
    assert jobs.double.enqueue(21).result(timeout=20) == 42
    result = finished(jobs.shout.enqueue("hi"), timeout=20)
    assert result.return_value == "HI"


def test_without_imports_a_worker_process_dead_letters_those_tasks(spawn_worker):  # noqa: F811
    from tests.importsapp import jobs

    spawn_worker("--concurrency", "2")
    handle = jobs.double.enqueue(21)
    record = handle.wait(timeout=20)
    assert record.status == Status.DEAD
    assert f"No task is registered under the name '{DOUBLE}'" in record.error_message


def test_a_worker_process_refuses_to_start_when_an_imports_module_fails(spawn_worker):  # noqa: F811
    extra = json.dumps({"IMPORTS": ["tests.importsapp.nowhere"]})
    proc = spawn_worker(env={"TASKQUEUE_EXTRA": extra})
    assert proc.wait(timeout=30) != 0
    with open(proc.log_path) as log:
        assert "taskqueue.E015" in log.read()


def test_a_workers_start_up_checks_leave_the_views_unimported():
    # runworker runs only the "taskqueue" checks (W003 is tagged "urls": it loads the
    # URLconf, and every view with it, into a process that serves none of them)
    out = _fresh_python(
        "from taskqueue.management.commands.runworker import Command\n"
        "Command().check(tags=['taskqueue'])\n"
        "print(sorted(m for m in sys.modules if m.startswith(('dashboard.views', 'api.views'))))"
    )
    assert out.strip() == "[]"


def test_checking_a_call_of_an_untyped_task_does_not_import_pydantic():
    # a worker would load it (~55 ms) in the middle of its work, at the first call it
    # checks: a workflow's task, whose call the producer does not seal
    out = _fresh_python(
        "from taskqueue.payloads import check_call\n"
        "from tests.taskapp.tasks import echo, record\n"
        "check_call(echo, [list(range(10))], {})\n"
        "print('pydantic' in sys.modules)\n"
        "check_call(record, ['a'], {})\n"
        "print('pydantic' in sys.modules)"
    )
    assert out.split() == ["False", "True"]


def _fresh_python(code: str) -> str:
    """What `code` prints in a new Python process with Django set up (sys imported)."""
    root = Path(__file__).resolve().parent.parent
    setup = "import sys, django; django.setup()\n"
    out = subprocess.run([sys.executable, "-c", setup + code], cwd=root, capture_output=True,
                         text=True, timeout=60, check=True)  # fmt: skip
    return out.stdout
