"""SQL expressions read out in words, from the sqlglot tree (never from regexes over text).

`Words.say(node)` turns a predicate or a calculation into a phrase a business reader follows:
`status = 'completed'` -> "status is 'completed'", `amount_cents / 100` -> "amount_cents divided
by 100", `count(distinct order_id)` -> "the number of distinct order_id". Column names are kept
as written (they are the field names people see in their tools); a dbt `{{ var(...) }}` or other
Jinja expression is called a project setting, never a value.
"""

from __future__ import annotations

import re
from typing import Any

from sqlglot import exp

from docgen.providers.offline.spans import PLACEHOLDER

_COMPARISONS: dict[type[exp.Expr], str] = {
    exp.EQ: "is",
    exp.NEQ: "is not",
    exp.GT: "is greater than",
    exp.GTE: "is at least",
    exp.LT: "is less than",
    exp.LTE: "is at most",
    exp.NullSafeEQ: "is",
    exp.NullSafeNEQ: "is not",
}
_ARITHMETIC: dict[type[exp.Expr], str] = {
    exp.Add: "plus",
    exp.Sub: "minus",
    exp.Mul: "times",
    exp.Div: "divided by",
    exp.Mod: "modulo",
    exp.DPipe: "followed by",
}
_TIME_WORDS = re.compile(r"(date|time|_at$|_on$|day|month|year|week)", re.I)
MAX_LIST = 6


def join_words(items: list[str], limit: int = MAX_LIST, conjunction: str = "and") -> str:
    # names made by a Jinja expression are not in the code as such: counted, not named
    made = [i for i in items if i and PLACEHOLDER in i]
    items = [i for i in dict.fromkeys(items) if i and PLACEHOLDER not in i]
    if made:
        items.append(
            f"{len(made)} name{'s' if len(made) > 1 else ''} set by the project's Jinja"
            if len(made) > 1
            else "a name set by the project's Jinja"
        )
    if not items:
        return ""
    shown = items[:limit]
    if len(items) > limit:
        shown.append(f"{len(items) - limit} more")
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + f" {conjunction} " + shown[-1]


_JINJA_NAME = re.compile(r"'?\w*" + PLACEHOLDER + r"\w*'?")


def is_condition(node: exp.Expr | None) -> bool:
    """Does the expression say yes or no (a comparison, IS, IN, AND/OR, NOT)?"""
    while isinstance(node, exp.Paren):
        node = node.this
    return isinstance(node, exp.Predicate | exp.Connector | exp.Not)


def sentence(text: str, keep_case: bool = False) -> str:
    # a name or value made by a Jinja expression is not in the code as such: say what it is
    text = _JINJA_NAME.sub("a value set by the project's Jinja", " ".join(text.split()))
    if not text:
        return text
    first = text.split(" ", 1)[0]
    # field and table names keep their case ("id: ...", "stg_orders reads ...")
    if not keep_case and not re.search(r"[_.\d]", first.rstrip(".,;")) and not first.endswith(":"):
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "?", "!", ".”", "?”", "!”")) else text + "."


def humanize(name: str) -> str:
    """'stg_customer_orders' -> 'customer orders' (for titles, not for naming fields)."""
    base = name.rsplit(".", 1)[-1]
    base = re.sub(r"^(stg|int|fct|dim|base|tmp|raw|src|rpt|mart|agg)_+", "", base)
    base = re.sub(r"(?<=[a-z])(?=[A-Z])", " ", base)
    words = re.sub(r"[_\-]+", " ", base).strip().lower()
    return words or name


class Words:
    """Reads expressions of one step; `aliases` maps table aliases to relation names. When the
    step reads several relations, a qualified column is named with its relation
    ("order_id (stg_orders)"), so the reader knows which one is meant."""

    def __init__(self, aliases: dict[str, str] | None = None, qualify: bool = False) -> None:
        self.aliases = aliases or {}
        self.qualify = qualify

    @classmethod
    def for_step(cls, step: Any) -> Words:
        return cls(step.aliases, qualify=len(step.inputs) > 1)

    def say(self, node: exp.Expr | None) -> str:
        if node is None:
            return "nothing"
        method = getattr(self, f"_{type(node).__name__.lower()}", None)
        if method is not None:
            return str(method(node))
        for kind, word in _COMPARISONS.items():
            if isinstance(node, kind):
                return f"{self.say(node.this)} {word} {self.say(node.expression)}"
        for kind, word in _ARITHMETIC.items():
            if isinstance(node, kind):
                return f"{self.say(node.this)} {word} {self.say(node.expression)}"
        if isinstance(node, exp.AggFunc):
            return f"the {type(node).__name__.lower()} of {self.say(node.this)}"
        if isinstance(node, exp.Func):
            return self._function(node)
        return self._columns_of(node)

    def first_rows(self, node: exp.Expr | None) -> str | None:
        """`row_number() over (partition by a order by b desc) = 1` (or `<= n`): the common
        keep-the-latest filter, said as such; None for any other predicate."""
        if not isinstance(node, exp.EQ | exp.LTE | exp.LT):
            return None
        window, limit = node.this, node.expression
        if not (
            isinstance(window, exp.Window)
            and isinstance(window.this, exp.RowNumber | exp.Rank | exp.DenseRank)
            and isinstance(limit, exp.Literal)
            and not limit.is_string
        ):
            return None
        count = int(limit.this) - (1 if isinstance(node, exp.LT) else 0)
        partition = [self.say(p) for p in window.args.get("partition_by") or []]
        order = window.args.get("order")
        keys = order.expressions if order is not None else []
        latest = any(isinstance(k, exp.Ordered) and k.args.get("desc") for k in keys[:1])
        ordered = [self.say(k.this if isinstance(k, exp.Ordered) else k) for k in keys]
        which = "latest" if latest else "first"
        rows = "row" if count == 1 else f"{count} rows"
        head = f"only the {which} {rows}"
        per = f" per {join_words(partition, 4)}" if partition else ""
        by = f" (by {join_words(ordered, 3)})" if ordered else ""
        return f"{head}{per}{by} {'is' if count == 1 else 'are'} kept"

    # -- leaves ----------------------------------------------------------------------------

    def _column(self, node: exp.Column) -> str:
        if node.name == PLACEHOLDER:
            return "a value set in the project's configuration"
        if isinstance(node.this, exp.Star):
            return "every column"
        if self.qualify and node.table:
            relation = self.aliases.get(node.table, node.table)
            return f"{node.name} ({relation})"
        return node.name

    def _identifier(self, node: exp.Identifier) -> str:
        return self._column(exp.Column(this=node))

    def _literal(self, node: exp.Literal) -> str:
        return f"'{node.this}'" if node.is_string else str(node.this)

    def _null(self, node: exp.Null) -> str:
        return "empty"

    def _boolean(self, node: exp.Boolean) -> str:
        return "true" if node.this else "false"

    def _star(self, node: exp.Star) -> str:
        return "every column"

    def _paren(self, node: exp.Paren) -> str:
        return self.say(node.this)

    def _alias(self, node: exp.Alias) -> str:
        return self.say(node.this)

    def _var(self, node: exp.Var) -> str:
        return str(node.this).lower()

    def _currentdate(self, node: exp.Expr) -> str:
        return "today"

    def _currenttimestamp(self, node: exp.Expr) -> str:
        return "now"

    _currentdatetime = _currenttimestamp
    _currenttime = _currenttimestamp

    def _interval(self, node: exp.Interval) -> str:
        unit = node.args.get("unit")
        amount = node.this.this if isinstance(node.this, exp.Literal) else self.say(node.this)
        return f"{amount} {self.say(unit) if unit is not None else ''}".strip().replace("'", "")

    # -- predicates ------------------------------------------------------------------------

    def _and(self, node: exp.And) -> str:
        return f"{self.say(node.this)} and {self.say(node.expression)}"

    def _or(self, node: exp.Or) -> str:
        return f"either {self.say(node.this)} or {self.say(node.expression)}"

    def _not(self, node: exp.Not) -> str:
        inner = node.this
        if isinstance(inner, exp.Is) and isinstance(inner.expression, exp.Null):
            return f"{self.say(inner.this)} is filled in"
        if isinstance(inner, exp.In):
            return self._in(inner, negated=True)
        if isinstance(inner, exp.Like | exp.ILike) and not inner.args.get("negate"):
            return f"{self.say(inner.this)} does not match the pattern {self.say(inner.expression)}"
        if isinstance(inner, exp.Column):
            return f"{self.say(inner)} is false"
        if isinstance(inner, exp.Exists):
            return f"no matching row exists in {self._tables(inner)}"
        return f"it is not the case that {self.say(inner)}"

    def _is(self, node: exp.Is) -> str:
        negated = bool(node.args.get("negate"))
        if isinstance(node.expression, exp.Null):
            return f"{self.say(node.this)} is {'filled in' if negated else 'empty'}"
        return f"{self.say(node.this)} is {'not ' if negated else ''}{self.say(node.expression)}"

    def _in(self, node: exp.In, negated: bool = False) -> str:
        verb = "is not one of" if negated else "is one of"
        query = node.args.get("query")
        if query is not None:
            verb = "does not appear in" if negated else "appears in"
            return f"{self.say(node.this)} {verb} {self._tables(query)}"
        values = [self.say(v) for v in node.expressions]
        return f"{self.say(node.this)} {verb} {join_words(values, 8, 'or')}"

    def _like(self, node: exp.Expr) -> str:
        # sqlglot 30 reads `a not like b` as Like(negate=True) in some dialects, Not(Like) in others
        verb = "does not match" if node.args.get("negate") else "matches"
        return f"{self.say(node.this)} {verb} the pattern {self.say(node.expression)}"

    _ilike = _like

    def _between(self, node: exp.Between) -> str:
        low, high = node.args.get("low"), node.args.get("high")
        return f"{self.say(node.this)} is between {self.say(low)} and {self.say(high)}"

    def _exists(self, node: exp.Exists) -> str:
        return f"a matching row exists in {self._tables(node)}"

    def _tables(self, node: exp.Expr) -> str:
        names = [t.name for t in node.find_all(exp.Table)]
        return join_words(names) or "a subquery"

    # -- calculations ----------------------------------------------------------------------

    def _case(self, node: exp.Case) -> str:
        outcomes = [self.say(i.args["true"]) for i in node.args.get("ifs") or []]
        if node.args.get("default") is not None:
            outcomes.append(self.say(node.args["default"]))
        return f"one of {join_words(outcomes, 5, 'or')}, depending on conditions"

    def _if(self, node: exp.Expr) -> str:
        return (
            f"{self.say(node.args.get('true'))} when {self.say(node.this)}, "
            f"otherwise {self.say(node.args.get('false'))}"
        )

    def _cast(self, node: exp.Cast) -> str:
        to = node.args.get("to")
        kind = to.sql().lower() if to is not None else "another type"
        if isinstance(node.this, exp.Literal):
            return self.say(node.this)  # '2023-01-01'::date is simply that date
        return f"{self.say(node.this)} (as {_type_word(kind)})"

    _trycast = _cast
    _safecast = _cast

    def _coalesce(self, node: exp.Coalesce) -> str:
        others = [self.say(e) for e in node.expressions]
        return f"{self.say(node.this)} (or {join_words(others, 3, 'or')} when it is empty)"

    def _lower(self, node: exp.Expr) -> str:
        return f"{self.say(node.this)} in lower case"

    def _upper(self, node: exp.Expr) -> str:
        return f"{self.say(node.this)} in upper case"

    def _trim(self, node: exp.Expr) -> str:
        return f"{self.say(node.this)} without surrounding spaces"

    def _initcap(self, node: exp.Expr) -> str:
        return f"{self.say(node.this)} with capitalised words"

    def _round(self, node: exp.Round) -> str:
        places = node.args.get("decimals")
        tail = f" to {self.say(places)} decimals" if places is not None else ""
        return f"{self.say(node.this)} rounded{tail}"

    def _timestamptrunc(self, node: exp.Expr) -> str:
        unit = node.args.get("unit")
        word = str(unit.this).lower() if isinstance(unit, exp.Literal | exp.Var) else "period"
        return f"the {word} of {self.say(node.this)}"

    _datetrunc = _timestamptrunc
    _timestamp_trunc = _timestamptrunc

    def _count(self, node: exp.Count) -> str:
        inner = node.this
        if inner is None or isinstance(inner, exp.Star):
            return "the number of rows"
        if isinstance(inner, exp.Distinct):
            return f"the number of distinct {join_words([self.say(e) for e in inner.expressions])}"
        return f"the number of rows with {self.say(inner)} filled in"

    def _sum(self, node: exp.Sum) -> str:
        return f"the total of {self.say(node.this)}"

    def _avg(self, node: exp.Avg) -> str:
        return f"the average of {self.say(node.this)}"

    def _min(self, node: exp.Min) -> str:
        word = "earliest" if _TIME_WORDS.search(node.this.sql()) else "smallest"
        return f"the {word} {self.say(node.this)}"

    def _max(self, node: exp.Max) -> str:
        word = "latest" if _TIME_WORDS.search(node.this.sql()) else "largest"
        return f"the {word} {self.say(node.this)}"

    def _window(self, node: exp.Window) -> str:
        what = node.this
        name = type(what).__name__.lower()
        words = {
            "rownumber": "the position of each row",
            "rank": "the rank of each row",
            "denserank": "the rank of each row (without gaps)",
            "percentrank": "the percentile rank of each row",
            "ntile": "the group number of each row",
        }
        if name in words:
            head = words[name]
        elif name == "lag":
            head = f"the previous row's {self.say(what.this)}"
        elif name == "lead":
            head = f"the next row's {self.say(what.this)}"
        elif name in ("firstvalue", "lastvalue"):
            head = f"the {name[:-5]} {self.say(what.this)}"
        else:
            head = self.say(what)
        partition = [self.say(p) for p in node.args.get("partition_by") or []]
        order = node.args.get("order")
        parts = [head]
        if partition:
            parts.append(f"within each {join_words(partition, 4)}")
        if order is not None:
            keys = []
            for o in order.expressions:
                key = self.say(o.this if isinstance(o, exp.Ordered) else o)
                if isinstance(o, exp.Ordered) and o.args.get("desc"):
                    key += " (highest or latest first)"
                keys.append(key)
            parts.append(f"ordered by {join_words(keys, 4)}")
        return ", ".join(parts)

    def _function(self, node: exp.Func) -> str:
        name = node.sql_name().lower() if hasattr(node, "sql_name") else type(node).__name__
        if isinstance(node, exp.Anonymous):
            name = str(node.this).lower()
        name = name.replace("_", " ")  # sqlglot's name for it may not be the one in the code
        args = [self.say(a) for a in node.args.values() if isinstance(a, exp.Expr)]
        args += [
            self.say(a)
            for value in node.args.values()
            if isinstance(value, list)
            for a in value
            if isinstance(a, exp.Expr)
        ]
        return f"{name} of {join_words(args, 4)}" if args else name

    def _columns_of(self, node: exp.Expr) -> str:
        columns = [c.name for c in node.find_all(exp.Column) if c.name != PLACEHOLDER]
        if columns:
            return f"a value calculated from {join_words(columns, 4)}"
        return "a calculated value"


def _type_word(kind: str) -> str:
    kind = kind.lower()
    for prefix, word in (
        ("date", "a date"),
        ("timestamp", "a timestamp"),
        ("datetime", "a timestamp"),
        ("int", "a whole number"),
        ("bigint", "a whole number"),
        ("numeric", "a decimal number"),
        ("decimal", "a decimal number"),
        ("float", "a number"),
        ("double", "a number"),
        ("varchar", "text"),
        ("text", "text"),
        ("string", "text"),
        ("bool", "true/false"),
    ):
        if kind.startswith(prefix):
            return word
    return kind
