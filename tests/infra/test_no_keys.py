"""No keys: every service the templates create has key authentication off, and only the Event Grid subscriptions
template reads a key (the host's extension keys its webhook URLs need)."""

import pytest

from tests.infra.conftest import mutate
from tests.support.infra_checks import LOCAL_AUTH_OFF, ROOT, key_problems, role_assignments


def test_key_authentication_is_off_everywhere_and_no_template_reads_a_key():
    assert key_problems(ROOT) == []
    # AND each of those services is reached with a role instead (its module grants the identity one)
    assert len(role_assignments(ROOT)) >= len(LOCAL_AUTH_OFF)


@pytest.mark.parametrize(
    ("relative", "old", "new", "expected"),
    [
        (
            "infra/modules/storage.bicep",
            "allowSharedKeyAccess: false",
            "allowSharedKeyAccess: true",
            "account properties.allowSharedKeyAccess is True",
        ),
        (
            "infra/modules/servicebus.bicep",
            "    disableLocalAuth: true\n",
            "",
            "namespace properties.disableLocalAuth is None",
        ),
        (
            "infra/modules/postgres.bicep",
            "passwordAuth: 'Disabled'",
            "passwordAuth: 'Enabled'",
            "properties.authConfig.passwordAuth is 'Enabled'",
        ),
        (
            "infra/main.bicep",
            "var cosmosDatabase = 'tributary'\n",
            "var cosmosDatabase = 'tributary'\n"
            "var leaked = listKeys(resourceId('Microsoft.Storage/storageAccounts', 'x'), '2023-05-01').keys[0].value\n",
            "reads a key",
        ),
    ],
)
def test_key_authentication_left_on_or_a_key_read_is_reported(infra_copy, relative, old, new, expected):
    mutate(infra_copy, relative, old, new)
    problems = key_problems(infra_copy)
    assert any(expected in problem for problem in problems), problems
