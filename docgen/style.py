"""House style: an organization's own writing instructions, glossary and banned words.

    style = HouseStyle(instructions="Say 'client', never 'customer'.",
                       glossary=[GlossaryTerm(term="ARR", meaning="annual recurring revenue")],
                       banned_words=["leverage"])
    style_rules(style)                 # appended to the system message (same for every object)
    relevant_terms(style, text)        # glossary entries the object's context mentions

Where it goes in the prompt: instructions and banned words hold for every object of the
organization, so they extend the system message and stay in the prefix every call of the
organization shares (prompt caching keeps working). Glossary entries go into the object's
own context, and only those whose term or a synonym appears in it: a glossary change then
changes the input hash of exactly the objects that mention the term, and nightly re-documents
those and nothing else. Instructions or banned words change every object's hash.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError, field_validator

from docgen.errors import InvalidInput

MAX_INSTRUCTIONS = 4000
MAX_TERMS = 500


class GlossaryTerm(BaseModel):
    term: str = Field(min_length=1, max_length=200)
    meaning: str = Field(min_length=1, max_length=1000)
    synonyms: list[str] = Field(default_factory=list)

    @field_validator("term", "meaning")
    @classmethod
    def _strip(cls, value: str) -> str:
        value = " ".join(value.split())
        if not value:
            raise ValueError("is empty")
        return value

    @field_validator("synonyms")
    @classmethod
    def _clean(cls, values: list[str]) -> list[str]:
        return [" ".join(v.split()) for v in values if v and v.strip()]

    def names(self) -> list[str]:
        return [self.term, *self.synonyms]


class HouseStyle(BaseModel):
    instructions: str = ""
    glossary: list[GlossaryTerm] = Field(default_factory=list)
    banned_words: list[str] = Field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.instructions.strip() or self.glossary or self.banned_words)


def _mentions(name: str, text: str) -> bool:
    return re.search(rf"(?<![A-Za-z0-9]){re.escape(name)}(?![A-Za-z0-9])", text, re.I) is not None


def relevant_terms(style: HouseStyle | None, text: str) -> list[GlossaryTerm]:
    """Glossary entries whose term or a synonym appears in `text` (whole word, any case;
    `_` counts as a separator, so `arr` matches the column `total_arr`)."""
    if style is None or not style.glossary:
        return []
    spaced = text.replace("_", " ")
    return [t for t in style.glossary if any(_mentions(n, spaced) for n in t.names())]


def style_rules(style: HouseStyle | None) -> str:
    """The organization's rules as an addition to the system message ('' when none)."""
    if style is None or not (style.instructions.strip() or style.banned_words):
        return ""
    parts = ["", "House style of this organization (follow it; it overrides tone rules above):"]
    if style.instructions.strip():
        parts.append(style.instructions.strip())
    if style.banned_words:
        words = ", ".join(f'"{w}"' for w in style.banned_words)
        parts.append(f"Never use these words or phrases: {words}.")
    return "\n".join(parts) + "\n"


def glossary_block(terms: list[GlossaryTerm]) -> str:
    """The glossary lines placed in the object's context ('' when no term applies)."""
    if not terms:
        return ""
    lines = ["Business glossary (use these meanings and the preferred term):"]
    for term in terms:
        also = f" (also called: {', '.join(term.synonyms)})" if term.synonyms else ""
        lines.append(f"- {term.term}{also}: {term.meaning}")
    return "\n".join(lines)


def banned_words_used(style: HouseStyle | None, text: str) -> list[str]:
    """Banned words that appear in generated `text` (for warnings and tests)."""
    if style is None:
        return []
    return [w for w in style.banned_words if _mentions(w, text)]


def parse_glossary(data: object, source: str = "glossary") -> list[GlossaryTerm]:
    """A glossary from parsed YAML/JSON: a list of {term, meaning, synonyms}, or a mapping
    term -> meaning | {meaning, synonyms}."""
    if isinstance(data, dict) and "glossary" in data:
        data = data["glossary"]
    items: list[object]
    if isinstance(data, dict):
        items = [
            {"term": term, **(value if isinstance(value, dict) else {"meaning": value})}
            for term, value in data.items()
        ]
    elif isinstance(data, list):
        items = list(data)
    else:
        raise InvalidInput(f"{source}: expected a list of terms or a mapping term: meaning")
    terms = []
    for index, item in enumerate(items, start=1):
        try:
            terms.append(GlossaryTerm.model_validate(item))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "entry"
            raise InvalidInput(f"{source}: term #{index}: {where} {first['msg']}") from None
    seen: set[str] = set()
    for term in terms:
        if term.term.lower() in seen:
            raise InvalidInput(f"{source}: term {term.term!r} is defined twice")
        seen.add(term.term.lower())
    if len(terms) > MAX_TERMS:
        raise InvalidInput(f"{source}: {len(terms)} terms; at most {MAX_TERMS} are allowed")
    return terms


def load_glossary_file(path: Path) -> list[GlossaryTerm]:
    """Read a glossary YAML (or JSON) file; a one-line InvalidInput on any problem."""
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidInput(f"cannot read glossary file {path}: {exc.strerror}") from None
    try:
        data = YAML(typ="safe").load(text)
    except YAMLError as exc:
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise InvalidInput(f"glossary file {path}: {problem}") from None
    return parse_glossary(data, str(path))
