"""docs/configuration.md lists exactly the settings the code reads."""

import re
from pathlib import Path

from clarion.config import Settings

DOC = Path(__file__).parent.parent / "docs" / "configuration.md"


def test_every_setting_is_documented_and_every_documented_setting_exists():
    documented = set(re.findall(r"^\| `(CLARION_[A-Z_]+)`", DOC.read_text(), flags=re.M))
    assert documented == set(Settings.env_names())


def test_environment_overrides_defaults_and_flags_override_environment(tmp_path):
    env = {"CLARION_PORT": "9000", "CLARION_REGION": "eu-west-1", "CLARION_DATA_DIR": str(tmp_path)}
    settings = Settings.from_env(env, port=9100)
    assert settings.port == 9100 and settings.region == "eu-west-1" and settings.data_dir == tmp_path
    assert Settings.from_env({}).port == 8080
