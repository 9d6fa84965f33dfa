"""PostgreSQL access: engine and embedded server, migrations, and one module per table group.

engine         get_engine(), transaction(), error translation (the DB error boundary)
embedded       the embedded PostgreSQL under DOCGEN_HOME
migrate        the sql/ migration runner
orgs           organizations, users and roles, LLM settings with the encrypted API key
objects        metadata.objects and selections
documentation  documentation versions (one current per object)
jobs           documentation jobs and the brief's helper functions
"""

from docgen.db.engine import get_engine, transaction

__all__ = ["get_engine", "transaction"]
