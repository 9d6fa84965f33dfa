"""The offline provider: deterministic layers from static analysis, no key, no network.

It reads the code (sql_facts with sqlglot, python_facts with ast) into facts with verbatim
quotes, and writes the six layers from them (writer, items, words, usage). Its model name is
`offline-static-analysis-1`, its token usage is zero, and its text says what the code and the
YAML say, not what the business intends.
"""

from docgen.providers.offline.provider import OFFLINE_MODEL, OfflineProvider

__all__ = ["OFFLINE_MODEL", "OfflineProvider"]
