"""The weakened-library harness imports its sibling modules by name."""

import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).parent))
