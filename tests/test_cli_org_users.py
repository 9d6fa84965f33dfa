"""`docgen org users ORG [--json]`: the ids the Prefect form and `jobs create --user` need."""

from __future__ import annotations

import json
import uuid

from tests.factories import one_line_error


def test_org_users_lists_ids_emails_and_roles(cli) -> None:  # type: ignore[no-untyped-def]
    name = f"Users-{uuid.uuid4().hex[:6]}"
    assert cli("org", "create", name).returncode == 0
    ids = {}
    for email, role in (("zoe@example.com", "member"), ("[b]ana[/b]@example.com", "admin")):
        added = cli("org", "add-user", name, email, "--role", role)
        assert added.returncode == 0, added.stderr
        ids[email] = added.stdout.strip().splitlines()[-1]

    listed = cli("org", "users", name)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.strip().splitlines()
    assert lines == [
        f"{ids['[b]ana[/b]@example.com']}  admin   [b]ana[/b]@example.com",  # as text, not markup
        f"{ids['zoe@example.com']}  member  zoe@example.com",
    ]

    as_json = cli("org", "users", name, "--json")
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == [
        {
            "id": ids["[b]ana[/b]@example.com"],
            "email": "[b]ana[/b]@example.com",
            "role": "admin",
            "is_system": False,
        },
        {
            "id": ids["zoe@example.com"],
            "email": "zoe@example.com",
            "role": "member",
            "is_system": False,
        },
    ]


def test_org_users_of_an_unknown_organization_is_one_line(cli) -> None:  # type: ignore[no-untyped-def]
    line = one_line_error(cli("org", "users", "no-such-organization"))
    assert "no-such-organization" in line


def test_org_users_of_an_empty_organization(cli) -> None:  # type: ignore[no-untyped-def]
    name = f"Empty-{uuid.uuid4().hex[:6]}"
    assert cli("org", "create", name).returncode == 0
    listed = cli("org", "users", name, "--json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    assert "no users" in cli("org", "users", name).stderr
