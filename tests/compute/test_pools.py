"""Each asset's steps run in the Dagster concurrency pool named after its compute profile."""

import re
from pathlib import Path

from ml_platform.compute.profiles import PROFILES
from ml_platform.declaration import declarations
from ml_platform.definitions import build_definitions

POOL_LIMITS_SCRIPT = Path(__file__).parents[2] / "deploy" / "set_pool_limits.sh"


def test_every_declared_asset_pool_is_its_compute_profile():
    graph = build_definitions("local").resolve_asset_graph()
    declared = declarations(graph)
    assert declared
    for key, declaration in declared.items():
        assert graph.get(key).pools == {declaration.compute}, key.to_user_string()


def test_every_pool_limit_in_the_deploy_script_names_a_compute_profile():
    limited = re.findall(r"^dagster instance concurrency set (\S+) \d+$", POOL_LIMITS_SCRIPT.read_text(), re.MULTILINE)
    assert limited and set(limited) <= set(PROFILES)
