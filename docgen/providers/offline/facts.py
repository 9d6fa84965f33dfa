"""What the offline analyser knows about one object's code: facts, no prose.

SQL (docgen.providers.offline.sql_facts) and Python dataframe code
(docgen.providers.offline.python_facts) both come out as a list of steps (one per CTE, then the
final query; or one per dataframe operation). Every construct carries its verbatim `quote` from
the code, or None when it could not be located, in which case nothing cites it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp


@dataclass
class Filter:
    clause: str  # where, having, qualify (SQL) or filter (Python)
    node: exp.Expr | None
    quote: str | None


@dataclass
class Join:
    kind: str  # inner, left, right, full, cross
    target: str  # the relation (table, CTE) or "a subquery"
    alias: str | None
    on: exp.Expr | None
    using: list[str]
    quote: str | None

    @property
    def keeps_unmatched(self) -> bool:
        """True when rows of the left side survive without a match."""
        return self.kind in ("left", "full")


@dataclass
class Case:
    output: str | None
    node: exp.Case | None
    quote: str | None
    branches: list[tuple[exp.Expr, exp.Expr]] = field(default_factory=list)
    default: exp.Expr | None = None


@dataclass
class Computed:
    """An aggregation, a window or another calculated output column."""

    output: str
    node: exp.Expr | None
    quote: str | None


@dataclass
class Step:
    name: str
    position: tuple[int, int] = (0, 0)  # where it starts in the code (Python ordering)
    inputs: list[str] = field(default_factory=list)
    aliases: dict[str, str] = field(default_factory=dict)  # alias -> relation
    filters: list[Filter] = field(default_factory=list)
    filter_quotes: list[str] = field(default_factory=list)  # whole WHERE/HAVING/QUALIFY clauses
    joins: list[Join] = field(default_factory=list)
    group_by: list[exp.Expr] = field(default_factory=list)  # positions resolved to expressions
    group_names: list[str] = field(default_factory=list)  # what each key is called
    group_quote: str | None = None
    aggregates: list[Computed] = field(default_factory=list)
    windows: list[Computed] = field(default_factory=list)
    cases: list[Case] = field(default_factory=list)
    derived: list[Computed] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str]] = field(default_factory=list)  # (source column, new name)
    reads: list[str] = field(default_factory=list)  # columns its select list reads
    star: bool = False  # selects every column of its inputs
    distinct: bool = False
    union: str | None = None  # "union all", "union", "intersect", "except"
    union_quote: str | None = None
    limit: str | None = None

    @property
    def has_logic(self) -> bool:
        """Does this step change rows (filter, join, group, dedupe, union)?"""
        return bool(self.filters or self.joins or self.group_by or self.distinct or self.union)


@dataclass
class Facts:
    language: str
    parsed: bool
    steps: list[Step]
    sources: list[str]  # relations read from outside the code
    outputs: list[str]  # final output columns, SELECT * resolved where the inputs are known
    unresolved_star: bool = False  # the final columns include an unknown `*`

    @property
    def final(self) -> Step:
        return self.steps[-1]

    def all(self, attribute: str) -> list[object]:
        return [item for step in self.steps for item in getattr(step, attribute)]
