"""The submission's hand-made text (broker/workflow_ops.py) is what json.dumps would
write: node specs made from cached pieces, and the enqueue calls' chunks."""

import json

import pytest

from taskqueue.broker.workflow_ops import ENQUEUE_CHUNK, FIRST_CHUNK, SpecJSON, _chunks


@pytest.mark.parametrize(
    ("queue", "task_id", "feed", "children"),
    [
        ("default", "5cc146f8-5ae4-418a-8ed6-38d044715025", "value", ["b"]),
        ("emails#2", 'a"quote\\back', "list", []),
        ("q", "id", "none", ["ünï\u2028", 'k"e\\y', "\x00\n"]),
    ],
)
def test_a_spec_reads_back_as_the_dict_it_stands_for(queue, task_id, feed, children):
    text = SpecJSON()(queue, task_id, feed, children)
    assert json.loads(text) == {"q": queue, "id": task_id, "f": feed, "c": children}
    assert text == json.dumps({"q": queue, "id": task_id, "f": feed, "c": children})


def test_nodes_with_the_same_children_share_their_text():
    spec = SpecJSON()
    first, second = spec("q", "1", "value", ["cb"]), spec("q", "2", "value", ["cb"])
    assert json.loads(first)["c"] == json.loads(second)["c"] == ["cb"]
    assert len(spec._texts) == 2  # the queue's and the children's


@pytest.mark.parametrize("n", [0, 1, FIRST_CHUNK, FIRST_CHUNK + 1, 10_001])
def test_the_chunks_cover_every_task_once_a_small_one_first(n):
    chunks = _chunks(n)
    assert [i for a, b in chunks for i in range(a, b)] == list(range(n))
    assert all(b - a <= ENQUEUE_CHUNK for a, b in chunks)
    if n:
        assert chunks[0] == (0, min(n, FIRST_CHUNK))
