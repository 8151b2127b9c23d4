"""Shared helpers for the command-line tests."""

import pytest

from mdm_ot.cli import main


@pytest.fixture
def assert_one_line_error(capsys):
    """Run ``mdm-ot ARGV`` and check the contract for bad input: exit status 2 and one line
    on stderr, ``mdm-ot: error: ...``, containing ``match``."""

    def check(argv, match):
        with pytest.raises(SystemExit) as info:  # argparse errors exit through _Parser.error
            code = main(argv)
            raise SystemExit(code)
        assert info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("mdm-ot: error:") and err.count("\n") == 1 and match in err

    return check
