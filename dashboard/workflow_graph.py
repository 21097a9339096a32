"""A workflow as the console draws it: boxes in layers, edges between them, as numbers
for an inline SVG (templates/dashboard/workflow.html#workflow-graph). No I/O here.

- A node's layer is the longest path to it from a root, found in one loop in
  topological order (Kahn's), never by recursion: a 10,000-step chain is 10,000 turns
  of a loop. Nodes on a cycle (only a hand-edited Redis can hold one) go last.
- A layer of more than COLLAPSE_OVER nodes is drawn as one summary box per task name
  ("480 x tasks.render: 300 completed · 170 processing · 10 dead", linking to the
  list of those nodes); its dead nodes stay visible as boxes of their own.
- More than MAX_LAYERS layers: the first and last FOLD_KEEP are drawn, the middle
  ones are one box ("… 960 more steps …").
So a drawing holds at most about (2 x FOLD_KEEP + 1) x (COLLAPSE_OVER + MAX_SINGLES)
boxes, whatever the workflow's size.
"""

from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.urls import NoReverseMatch, reverse

COLLAPSE_OVER = 12  # nodes in a layer drawn one by one; more are summarised
MAX_LAYERS = 40  # layers drawn; more are folded
FOLD_KEEP = 20  # layers kept on each side of a fold
MAX_SINGLES = 12  # dead nodes drawn one by one in a summarised layer
MAX_GROUPS = 6  # summary boxes in a layer; the other task names share one
MAX_EDGES = 2000

NODE_W, GROUP_W, FOLD_W, BOX_H = 168, 400, 400, 46
GAP_X, GAP_Y, PAD = 18, 42, 10
SIDE = 56  # room left and right of the widest row, for the curves that bow out
TIMES = "\u00d7"  # the multiplication sign of "480 x tasks.render"

# The order statuses are counted in; anything else a record holds reads as "unknown".
STATUSES = ("waiting", "pending", "scheduled", "processing", "completed", "dead",
            "cancelled", "missing")  # fmt: skip


@dataclass(frozen=True, slots=True)
class Member:
    """One node of a workflow with its task's status and name (inspect.workflow_tasks)."""

    key: str
    task_id: str
    queue: str
    name: str
    status: str
    parents: tuple[str, ...]
    children: tuple[str, ...]

    @classmethod
    def of(cls, node, status: str, name: str) -> "Member":
        status = status if status in STATUSES else "unknown"
        return cls(node.key, node.task_id, node.queue, name, status, node.parents, node.children)


@dataclass(frozen=True, slots=True)
class Segment:
    x: float
    width: float
    status: str
    y: int = 0


@dataclass(slots=True)
class Box:
    kind: str  # "node", "group" or "fold"
    width: int
    status: str  # a node's status; "group" or "fold"
    line1: str
    line2: str
    title: str
    href: str
    key: str = ""  # a node's key
    blocked: bool = False  # waiting for a dead parent
    counts: str = ""
    bar: list[Segment] = field(default_factory=list)
    x: int = 0
    y: int = 0

    @property
    def height(self) -> int:
        return BOX_H

    @property
    def cx(self) -> float:
        return self.x + self.width / 2

    @property
    def text_y1(self) -> int:
        return self.y + 19

    @property
    def text_y2(self) -> int:
        return self.y + 35

    @property
    def bar_rects(self) -> list[Segment]:
        """The status bar of a summary, placed in the box."""
        y = self.y + BOX_H - 8
        return [Segment(round(self.x + 8 + s.x, 1), s.width, s.status, y) for s in self.bar]


@dataclass(frozen=True, slots=True)
class Edge:
    d: str
    dead: bool  # from a dead node: what waits behind it is blocked


@dataclass
class Drawing:
    width: int
    height: int
    boxes: list[Box]
    edges: list[Edge]
    nodes: int  # members drawn, each in a box of its own or in a summary
    folded_layers: int
    edges_left_out: int


def layers(members: Sequence[Member]) -> list[list[Member]]:
    """Members by layer, in their declared order within each (see the module's doc)."""
    known = {m.key for m in members}
    parents = {m.key: [p for p in dict.fromkeys(m.parents) if p in known] for m in members}
    children: dict[str, list[str]] = {key: [] for key in parents}
    for key, ps in parents.items():
        for p in ps:
            children[p].append(key)
    missing = {key: len(ps) for key, ps in parents.items()}
    depth = {key: 0 for key, n in missing.items() if n == 0}
    ready = deque(depth)
    while ready:
        key = ready.popleft()
        for child in children[key]:
            depth[child] = max(depth.get(child, 0), depth[key] + 1)
            missing[child] -= 1
            if missing[child] == 0:
                ready.append(child)
    placed = {key: depth[key] for key, n in missing.items() if n == 0}
    last = max(placed.values(), default=-1) + 1  # where what a cycle left goes
    rows: list[list[Member]] = [[] for _ in range(last + (len(placed) < len(missing)))]
    for m in members:
        rows[placed.get(m.key, last)].append(m)
    return rows


def blocked_by(members: Sequence[Member]) -> dict[str, list[str]]:
    """Waiting nodes whose parent is dead -> those dead parents' keys."""
    dead = {m.key for m in members if m.status == "dead"}
    out = {}
    for m in members:
        if m.status == "waiting" and (culprits := [p for p in m.parents if p in dead]):
            out[m.key] = culprits
    return out


def count_text(counts: Counter) -> str:
    order = [s for s in (*STATUSES, "unknown") if counts.get(s)]
    return " · ".join(f"{counts[s]} {s}" for s in order)


def short(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def task_url(task_id: str) -> str:
    """The task page, or "" for an id that makes no URL (anyone can write a record)."""
    try:
        return reverse("dashboard:task", args=[task_id])
    except NoReverseMatch:
        return ""


def nodes_url(workflow_id: str, **params) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{reverse('dashboard:workflow-nodes', args=[workflow_id])}?{query}"


def node_box(m: Member, blocked: dict[str, list[str]]) -> Box:
    culprits = blocked.get(m.key, [])
    state = "blocked" if culprits else m.status
    title = f"{m.key}: {m.name or 'task ' + m.task_id} ({m.status})"
    if culprits:
        title += f"; blocked by dead parent {', '.join(culprits[:5])}"
    return Box("node", NODE_W, m.status, short(m.name or m.task_id, 24),
               f"{short(m.key, 16)} · {state}", title, task_url(m.task_id), key=m.key,
               blocked=bool(culprits))  # fmt: skip


def bar(members: Sequence[Member], width: int) -> list[Segment]:
    """A stacked bar of the members' statuses, `width` wide."""
    counts = Counter(m.status for m in members)
    out, done = [], 0
    for status in (*STATUSES, "unknown"):
        if counts.get(status):
            x0 = width * done / len(members)
            done += counts[status]
            out.append(Segment(round(x0, 1), round(width * done / len(members) - x0, 1), status))
    return out


def group_box(workflow_id: str, layer: int, name: str | None, members: list[Member]) -> Box:
    label = "other tasks" if name is None else name or "tasks without a name"
    counts = count_text(Counter(m.status for m in members))
    title = f"{len(members)} {TIMES} {label} in step {layer + 1}: {counts}. Open the list."
    href = nodes_url(workflow_id, layer=layer, name=name)
    box = Box("group", GROUP_W, "group", short(f"{len(members)} {TIMES} {label}", 40),
              short(counts, 64), title, href, counts=counts)  # fmt: skip
    box.bar = bar(members, GROUP_W - 16)
    return box


def row_boxes(workflow_id: str, layer: int, row: list[Member], blocked) -> tuple[list, dict]:
    """A layer's boxes, and which box each member is drawn in (index into the list)."""
    if len(row) <= COLLAPSE_OVER:
        return [node_box(m, blocked) for m in row], {m.key: i for i, m in enumerate(row)}
    by_name: dict[str, list[Member]] = {}
    for m in row:
        by_name.setdefault(m.name, []).append(m)
    groups: list[tuple[str | None, list[Member]]] = list(by_name.items())
    if len(groups) > MAX_GROUPS:
        rest = [m for _, ms in groups[MAX_GROUPS - 1 :] for m in ms]
        groups = [*groups[: MAX_GROUPS - 1], (None, rest)]
    boxes: list[Box] = []
    where: dict[str, int] = {}
    singles = MAX_SINGLES
    for name, ms in groups:
        boxes.append(group_box(workflow_id, layer, name, ms))
        where |= dict.fromkeys((m.key for m in ms), len(boxes) - 1)
        for m in ms:
            if m.status == "dead" and singles:
                singles -= 1
                boxes.append(node_box(m, blocked))
                where[m.key] = len(boxes) - 1
    return boxes, where


def fold_box(workflow_id: str, first: int, rows: list[list[Member]]) -> Box:
    members = [m for row in rows for m in row]
    counts = count_text(Counter(m.status for m in members))
    line1 = f"… {len(rows)} more steps …"
    title = f"Steps {first + 1} to {first + len(rows)}: {len(members)} tasks, {counts}."
    href = nodes_url(workflow_id, layer=f"{first}-{first + len(rows) - 1}")
    box = Box("fold", FOLD_W, "fold", line1, short(counts, 64), title, href, counts=counts)
    box.bar = bar(members, FOLD_W - 16)
    return box


def draw(workflow_id: str, members: Sequence[Member]) -> Drawing:
    """Lay the workflow out (see the module's doc)."""
    rows = layers(members)
    blocked = blocked_by(members)
    drawn: list[list[Box]] = []
    where: dict[str, tuple[int, int]] = {}  # member key -> (row drawn, box in the row)
    folded = len(rows) - 2 * FOLD_KEEP if len(rows) > MAX_LAYERS else 0
    for layer, row in enumerate(rows):
        if folded and FOLD_KEEP <= layer < FOLD_KEEP + folded:
            if layer == FOLD_KEEP:
                drawn.append([fold_box(workflow_id, layer, rows[layer : layer + folded])])
            where |= dict.fromkeys((m.key for m in row), (len(drawn) - 1, 0))
            continue
        boxes, at = row_boxes(workflow_id, layer, row, blocked)
        where |= {key: (len(drawn), i) for key, i in at.items()}
        drawn.append(boxes)
    width = place(drawn)
    edges, left_out = connect(members, drawn, where)
    height = 2 * PAD + len(drawn) * BOX_H + max(0, len(drawn) - 1) * GAP_Y
    boxes = [box for row in drawn for box in row]
    return Drawing(width, height, boxes, edges, len(members), folded, left_out)


def place(drawn: list[list[Box]]) -> int:
    """Give each box its position, each row centred; returns the drawing's width."""
    widths = [sum(b.width for b in row) + GAP_X * max(0, len(row) - 1) for row in drawn]
    width = max(widths, default=0) + 2 * SIDE
    for i, (row, row_width) in enumerate(zip(drawn, widths, strict=True)):
        x = (width - row_width) // 2
        for box in row:
            box.x, box.y = x, PAD + i * (BOX_H + GAP_Y)
            x += box.width + GAP_X
    return width


def connect(members, drawn, where) -> tuple[list[Edge], int]:
    """One edge per pair of boxes a parent -> child link joins (at most MAX_EDGES)."""
    pairs: dict[tuple, bool] = {}
    status = {m.key: m.status for m in members}
    for m in members:
        for p in m.parents:
            if p in where and m.key in where and where[p] != where[m.key]:
                pair = (where[p], where[m.key])
                pairs[pair] = pairs.get(pair, False) or status.get(p) == "dead"
    edges = [path(drawn[a[0]][a[1]], drawn[b[0]][b[1]], dead) for (a, b), dead in pairs.items()]
    return edges[:MAX_EDGES], max(0, len(edges) - MAX_EDGES)


def path(a: Box, b: Box, dead: bool) -> Edge:
    """A curve from the bottom of `a` to the top of `b`. One that skips layers bows out
    sideways, clear of the boxes it passes (else it would hide behind a chain)."""
    x1, y1, x2, y2 = a.cx, a.y + BOX_H, b.cx, b.y
    if y2 <= y1:  # boxes of one row (a cycle): a straight line
        return Edge(f"M{x1:g} {a.y + BOX_H / 2:g} L{x2:g} {b.y + BOX_H / 2:g}", dead)
    bend = (y2 - y1) / 2
    bow = 0 if y2 - y1 <= GAP_Y else (NODE_W if x2 >= x1 else -NODE_W)
    c1, c2 = f"{x1 + bow:g} {y1 + bend:g}", f"{x2 + bow:g} {y2 - bend:g}"
    return Edge(f"M{x1:g} {y1:g} C{c1} {c2} {x2:g} {y2:g}", dead)
