"""Lineage pictures for the HTML viewer: a layered layout computed here, drawn as inline SVG.

    picture = object_lineage(catalog, entry)      # two levels up and down around one object
    picture = project_lineage(catalog)             # every object of the export
    # the templates draw picture.nodes (boxes with links) and picture.edges (curves)

Layout: one column per depth (upstream objects to the left, downstream to the right; for
the project view the depth is the longest path from a source), and inside a column the
nodes are ordered by the mean position of their neighbours (a few barycenter sweeps, the
classic Sugiyama heuristic), which keeps most curves from crossing on real dbt projects.
No graphviz and no JavaScript: the page gets plain SVG elements and our CSS classes, so the
existing Content-Security-Policy (no inline style attributes, no scripts) holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from uuid import UUID

from docgen.render.data import Catalog, Entry, Link

NODE_WIDTH = 184
NODE_HEIGHT = 34
COLUMN_GAP = 64
ROW_GAP = 12
MARGIN = 8
#: labels longer than this are cut with an ellipsis (the full name is the tooltip)
LABEL_CHARS = 24
#: the project view draws at most this many objects (a larger project gets a note instead)
PROJECT_LIMIT = 400


@dataclass(frozen=True)
class Node:
    object_id: UUID
    name: str
    label: str
    object_type: str
    slug: str | None
    depth: int
    x: int
    y: int
    focus: bool = False

    @property
    def width(self) -> int:
        return NODE_WIDTH

    @property
    def height(self) -> int:
        return NODE_HEIGHT


@dataclass(frozen=True)
class Edge:
    source: UUID
    target: UUID
    path: str  # SVG path data: a cubic curve from the source's right to the target's left


@dataclass(frozen=True)
class Picture:
    nodes: list[Node]
    edges: list[Edge]
    width: int
    height: int
    #: how many objects were left out (project view above PROJECT_LIMIT)
    omitted: int = 0

    @property
    def empty(self) -> bool:
        return len(self.nodes) <= 1


def _label(name: str) -> str:
    return name if len(name) <= LABEL_CHARS else name[: LABEL_CHARS - 1] + "…"


Slot = UUID | tuple[UUID, UUID, int]  # an object, or a waypoint of a long edge in a column
DUMMY_HEIGHT = 10


def _order_columns(
    columns: dict[int, list[Slot]], edges: list[tuple[Slot, Slot]], sweeps: int = 6
) -> None:
    """Barycenter ordering in place: each column sorted by its neighbours' mean row."""
    neighbours: dict[Slot, list[Slot]] = {}
    for source, target in edges:
        neighbours.setdefault(source, []).append(target)
        neighbours.setdefault(target, []).append(source)
    depths = sorted(columns)
    row: dict[Slot, float] = {}

    def place(column: list[Slot]) -> None:  # relative row of each slot, 0..1
        for index, node in enumerate(column):
            row[node] = index / max(1, len(column) - 1)

    for column in columns.values():
        place(column)
    for sweep in range(sweeps):
        order = depths if sweep % 2 == 0 else list(reversed(depths))
        for depth in order:
            current = columns[depth]
            columns[depth] = sorted(current, key=_barycenter(row, neighbours, current))
            place(columns[depth])


def _barycenter(
    row: dict[Slot, float], neighbours: dict[Slot, list[Slot]], current: list[Slot]
) -> Callable[[Slot], tuple[float, int]]:
    position = {node: index for index, node in enumerate(current)}
    span = max(1, len(current) - 1)

    def weight(node: Slot) -> tuple[float, int]:
        placed = [row[n] for n in neighbours.get(node, []) if n in row]
        centre = sum(placed) / len(placed) if placed else position[node] / span
        return (centre, position[node])

    return weight


def _slot_height(slot: Slot) -> int:
    return DUMMY_HEIGHT if isinstance(slot, tuple) else NODE_HEIGHT


def _layout(
    depth_of: dict[UUID, int],
    edges: Iterable[tuple[UUID, UUID]],
    links: dict[UUID, Link],
    focus: UUID | None,
) -> Picture:
    drawn = sorted(
        {(s, t) for s, t in edges if s in depth_of and t in depth_of and depth_of[s] < depth_of[t]},
        key=lambda e: (str(e[0]), str(e[1])),
    )
    columns: dict[int, list[Slot]] = {}
    for node in sorted(depth_of, key=lambda n: (links[n].name.lower(), str(n))):
        columns.setdefault(depth_of[node], []).append(node)
    # a long edge gets a waypoint in every column it crosses, so it is routed between boxes
    chains: dict[tuple[UUID, UUID], list[Slot]] = {}
    segments: list[tuple[Slot, Slot]] = []
    for source, target in drawn:
        chain: list[Slot] = [source]
        for depth in range(depth_of[source] + 1, depth_of[target]):
            waypoint = (source, target, depth)
            columns.setdefault(depth, []).append(waypoint)
            chain.append(waypoint)
        chain.append(target)
        chains[(source, target)] = chain
        segments += list(zip(chain, chain[1:], strict=False))
    _order_columns(columns, segments)
    used = {
        depth: sum(_slot_height(s) for s in column) + (len(column) - 1) * ROW_GAP
        for depth, column in columns.items()
    }
    height = 2 * MARGIN + max(used.values())
    first = min(columns)
    nodes: dict[UUID, Node] = {}
    centre: dict[Slot, tuple[int, int]] = {}  # (x of the column, y of the slot's middle)
    for depth, column in columns.items():
        x = MARGIN + (depth - first) * (NODE_WIDTH + COLUMN_GAP)
        y = MARGIN + (height - 2 * MARGIN - used[depth]) // 2  # each column centred vertically
        for slot in column:
            centre[slot] = (x, y + _slot_height(slot) // 2)
            if not isinstance(slot, tuple):
                link = links[slot]
                nodes[slot] = Node(
                    object_id=slot,
                    name=link.name,
                    label=_label(link.name),
                    object_type=link.object_type,
                    slug=link.slug,
                    depth=depth,
                    x=x,
                    y=y,
                    focus=slot == focus,
                )
            y += _slot_height(slot) + ROW_GAP
    curves = []
    for (source, target), chain in chains.items():
        x, y = centre[chain[0]]
        x += NODE_WIDTH
        path = f"M{x},{y}"
        for index, slot in enumerate(chain[1:], start=1):
            nx, ny = centre[slot]
            last = index == len(chain) - 1
            end = nx - 4 if last else nx  # stop short: the arrowhead ends at the box
            bend = max(20, (end - x) // 2)
            path += f" C{x + bend},{y} {end - bend},{ny} {end},{ny}"
            if not last:
                path += f" L{nx + NODE_WIDTH},{ny}"
            x, y = nx + NODE_WIDTH, ny
        curves.append(Edge(source, target, path))
    width = 2 * MARGIN + len(columns) * NODE_WIDTH + (len(columns) - 1) * COLUMN_GAP
    ordered = sorted(nodes.values(), key=lambda n: (n.depth, n.y))
    return Picture(ordered, curves, width, height)


@dataclass(frozen=True)
class Graph:
    """Every object the catalog knows (its entries and their neighbours), with upstream and
    downstream links; build it once per export (`lineage_graph`) and pass it to each page."""

    links: dict[UUID, Link]
    upstream: dict[UUID, list[UUID]]
    downstream: dict[UUID, list[UUID]]


def lineage_graph(catalog: Catalog) -> Graph:
    links, upstream = _graph(catalog)
    downstream: dict[UUID, list[UUID]] = {}
    for child, parents in upstream.items():
        for parent in parents:
            downstream.setdefault(parent, []).append(child)
    return Graph(links, upstream, downstream)


def _graph(catalog: Catalog) -> tuple[dict[UUID, Link], dict[UUID, list[UUID]]]:
    links: dict[UUID, Link] = dict(catalog.graph_nodes)
    upstream: dict[UUID, list[UUID]] = {k: list(v) for k, v in catalog.graph_upstream.items()}
    for entry in catalog.entries:
        links.setdefault(
            entry.obj.id, Link(entry.obj.id, entry.obj.name, entry.obj.object_type, entry.slug)
        )
        for lk in (*entry.upstream, *entry.downstream):
            links.setdefault(lk.object_id, lk)
        ups = upstream.setdefault(entry.obj.id, [])
        ups += [lk.object_id for lk in entry.upstream if lk.object_id not in ups]
        for lk in entry.downstream:
            theirs = upstream.setdefault(lk.object_id, [])
            if entry.obj.id not in theirs:
                theirs.append(entry.obj.id)
    return links, upstream


def object_lineage(
    catalog: Catalog, entry: Entry, levels: int = 2, graph: Graph | None = None
) -> Picture:
    """The object, its upstream objects `levels` deep (left) and downstream ones (right)."""
    graph = graph or lineage_graph(catalog)
    focus = entry.obj.id
    depth_of = {focus: 0}
    for step, side in ((-1, graph.upstream), (1, graph.downstream)):
        frontier = [focus]
        for level in range(1, levels + 1):
            found = []
            for node in frontier:
                for neighbour in side.get(node, []):
                    if neighbour not in depth_of and neighbour in graph.links:
                        depth_of[neighbour] = step * level
                        found.append(neighbour)
            frontier = found
    edges = [(p, c) for c in depth_of for p in graph.upstream.get(c, []) if p in depth_of]
    return _layout(depth_of, edges, graph.links, focus)


def project_lineage(catalog: Catalog, limit: int = PROJECT_LIMIT) -> Picture:
    """Every object of the export, in columns by its longest path from a source."""
    links, upstream = _graph(catalog)
    chosen = [e.obj.id for e in catalog.entries]
    shown = set(chosen[:limit])
    depth_of: dict[UUID, int] = {}

    def depth(node: UUID, visiting: frozenset[UUID] = frozenset()) -> int:
        if node in depth_of:
            return depth_of[node]
        parents = [p for p in upstream.get(node, []) if p in shown and p not in visiting]
        value = 1 + max((depth(p, visiting | {node}) for p in parents), default=-1)
        depth_of[node] = value
        return value

    for node in sorted(shown, key=str):
        depth(node)
    edges = [(p, c) for c in shown for p in upstream.get(c, []) if p in shown]
    if not depth_of:
        return Picture([], [], 0, 0)
    picture = _layout(depth_of, edges, links, None)
    return Picture(
        picture.nodes, picture.edges, picture.width, picture.height, len(chosen) - len(shown)
    )
