from click.testing import CliRunner

import jujusim
from jujusim.cli import main


def test_version_matches_package():
    result = CliRunner().invoke(main, ['--version'])
    assert result.exit_code == 0
    assert result.output.strip() == f'jujusim, version {jujusim.__version__}'
