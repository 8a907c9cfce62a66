"""pollbench.cli: the command line, tested in-process via main(argv)."""

import json
import types

import pytest

import pollbench
from pollbench.cli import main


def test_version_flag_prints_the_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert pollbench.__version__ in capsys.readouterr().out


def test_help_lists_every_registered_command(capsys):
    from pollbench.cli import COMMANDS

    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for name, _ in COMMANDS:
        assert name in out


def test_strategies_json_lists_all_eight(capsys):
    assert main(["strategies", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["spec"] for r in rows] == list(pollbench.ALL_SPECS)


def test_bad_strategy_exits_2_with_a_sentence(capsys):
    assert main(["strategies", "poll:zero"]) == 2
    err = capsys.readouterr().err
    assert "pollbench strategies: error:" in err and "must be a number" in err


def test_unknown_command_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        main(["frobnicate"])
    assert info.value.code == 2


def test_public_api_matches_all():
    # Submodules (cli, commands, targets, ...) appear as attributes once imported; they are not the API.
    public = {
        name
        for name in dir(pollbench)
        if not name.startswith("_") and not isinstance(getattr(pollbench, name), types.ModuleType)
    }
    assert public == set(pollbench.__all__) - {"__version__"}
