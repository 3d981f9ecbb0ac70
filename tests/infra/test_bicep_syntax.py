"""Every .bicep file parses with the real Bicep grammar (tree-sitter-bicep): no ERROR or MISSING node."""

import pytest

from tests.infra.conftest import mutate
from tests.support.bicep import BicepFile
from tests.support.infra_checks import ROOT, bicep_files, syntax_problems


def test_every_bicep_file_parses_without_errors():
    # GIVEN the templates under infra/
    files = bicep_files(ROOT)
    assert len(files) >= 10, "main.bicep, the modules and the Event Grid subscriptions"

    # WHEN each is parsed with the grammar THEN none has an ERROR or MISSING node
    assert syntax_problems(ROOT) == []


@pytest.mark.parametrize(
    ("relative", "old", "new"),
    [
        # a closing brace lost
        ("infra/modules/identity.bicep", "  tags: tags\n}\n", "  tags: tags\n"),
        # a quote lost
        ("infra/modules/servicebus.bicep", "lockDuration: lockDuration", "lockDuration: 'lockDuration"),
        # a keyword misspelt
        ("infra/main.bicep", "targetScope = 'subscription'", "targetScop 'subscription'"),
    ],
)
def test_a_syntax_error_is_reported_with_its_place(infra_copy, relative, old, new):
    # GIVEN a copy of the templates with one syntax error
    mutate(infra_copy, relative, old, new)

    # WHEN checked THEN the error is reported, naming the file
    problems = syntax_problems(infra_copy)
    assert problems
    assert all(relative.split("/")[-1] in problem for problem in problems), problems


def test_the_grammar_reads_the_constructs_the_templates_use():
    # GIVEN the main template (decorators, conditional modules, loops, lambdas, interpolation)
    main = BicepFile(ROOT / "infra" / "main.bicep")

    # THEN its declarations are read as declarations, not swallowed by an error node
    assert {"environmentName", "jobStore", "maxDeliveryCount", "neo4jPassword"} <= set(main.parameters())
    assert "secure" in main.parameters()["neo4jPassword"].decorators
    assert {module.path for module in main.modules()} >= {"modules/functionapp.bicep", "modules/servicebus.bicep"}
    assert "AZURE_FUNCTION_APP_NAME" in main.outputs()
