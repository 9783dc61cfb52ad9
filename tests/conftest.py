from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import REPO


@pytest.fixture
def repo() -> Path:
    return REPO
