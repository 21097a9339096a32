"""How a canvas becomes a graph: who waits for whom, and how each task receives its
parents' results. No Redis: the graph is built before anything is written."""

import gc

import pytest

from taskqueue import ValidationError
from taskqueue.workflows import chain, chord, group
from taskqueue.workflows.canvas import from_canvas
from taskqueue.workflows.graph import from_edges
from taskqueue.workflows.submit import collector_paused
from tests.taskapp.tasks import echo


def shape(item):
    graph = from_canvas(item)
    return {k: (n.parents, n.feed) for k, n in graph.nodes.items()}, graph.outputs


def test_a_chain_feeds_each_step_the_one_before():
    assert shape(chain(echo.s(1), echo.s(), echo.si(3))) == (
        {"0": ([], "none"), "1": (["0"], "one"), "2": (["1"], "none")},
        ["2"],
    )


def test_after_a_group_the_next_step_gets_the_list():
    assert shape(chain(group(echo.s(1), echo.s(2)), echo.s())) == (
        {"0": ([], "none"), "1": ([], "none"), "2": (["0", "1"], "list")},
        ["2"],
    )


def test_a_group_after_a_step_gives_each_member_that_result():
    assert shape(chain(echo.s(1), group(echo.s(), echo.s())))[0] == {
        "0": ([], "none"),
        "1": (["0"], "one"),
        "2": (["0"], "one"),
    }


def test_a_chord_of_chains_waits_for_each_chains_last_step():
    nodes, outputs = shape(
        chord(group(chain(echo.s(1), echo.s()), chain(echo.s(2), echo.s())), echo.s())
    )
    assert nodes["4"] == (["1", "3"], "list") and outputs == ["4"]


def test_a_group_of_one_still_gives_a_list():
    assert shape(chord(group(echo.s(1)), echo.s()))[0]["1"] == (["0"], "list")


def test_an_empty_group_before_a_callback_gives_it_an_empty_list():
    nodes, _ = shape(chord(group(), echo.s()))
    assert nodes == {"0": ([], "list")}


def test_a_dag_feeds_one_result_or_the_list_in_edge_order():
    graph = from_edges(
        {"a": echo.s(), "b": echo.s(), "c": echo.s(), "d": echo.si()},
        [("b", "c"), ("a", "c"), ("c", "d")],
    )
    assert graph.nodes["c"].parents == ["b", "a"] and graph.nodes["c"].feed == "list"
    assert graph.nodes["d"].feed == "none" and graph.outputs == ["d"]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: chain(), "at least one"),
        (lambda: chain(echo.s(), "not a signature"), "signatures"),
        (lambda: group(None), "iterable"),
        (lambda: group([1, 2]), "signatures"),
        (lambda: from_edges({}), "at least one node"),
        (lambda: from_edges({"a": echo.s()}, [("a", "a")]), "cycle"),
        (lambda: from_edges({"a": echo.s()}, [("a",)]), "pair"),
        (lambda: from_edges({1: echo.s()}), "node key"),
        (lambda: from_edges({"\x00": echo.s()}), "node key"),
        (lambda: from_edges({"a" * 101: echo.s()}), "node key"),
        (lambda: from_edges({"a": "echo"}), "signature"),
    ],
)
def test_bad_shapes_are_refused_with_a_clear_error(make, message):
    with pytest.raises(ValidationError, match=message):
        make()


def test_options_given_to_one_signature_leave_the_tasks_other_calls_alone():
    # plain calls share one caller (Task._plain): using() must make another, not change it
    plain, moved = echo.s(1), echo.s(2).using(queue="high", priority=9)
    later = echo.s(3)
    assert moved.caller.options.queue == "high" and moved.caller.options.priority == 9
    for sig in (plain, later):
        assert sig.caller.options.queue is None and sig.caller.options.priority is None
    assert echo.using(queue="low").s(4).caller.options.queue == "low"
    assert echo.s(5).caller.options.queue is None


def test_the_collector_is_paused_while_a_workflow_is_built_and_then_restored():
    assert gc.isenabled()
    with collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError, match="refused"), collector_paused():
        raise ValueError("a submission refused")
    assert gc.isenabled()
    gc.disable()
    try:
        with collector_paused():
            pass
        assert not gc.isenabled()  # the caller's choice stands
    finally:
        gc.enable()


def test_a_refused_submission_leaves_the_collector_on():
    with pytest.raises(ValidationError, match="on_failure"):
        chain(echo.s(1), echo.s()).enqueue(on_failure="sometimes")
    assert gc.isenabled()
