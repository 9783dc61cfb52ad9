"""A Pathways experiment's latency overrides: `latencies:`, and `runtime:` as earlier files named them."""

from pathsim.catalog.latencies import LATENCIES
from pathsim.config.yamlio import read_yaml
from pathsim.studies.pathways.config import parse
from tests.support import REPO


def _dispatch(**extra):
    data = read_yaml(REPO / "experiments" / "pathways_dispatch.yaml", "experiment")
    return parse({**data, **extra})


def test_latency_overrides_replace_the_catalog_figures_and_the_earlier_key_still_reads():
    assert _dispatch().runtime_latencies() == LATENCIES
    new = _dispatch(latencies={"rpc_cpu_s": 1e-5}).runtime_latencies()
    assert new.rpc_cpu_s == 1e-5 and new.dcn_message_s == LATENCIES.dcn_message_s
    assert _dispatch(runtime={"rpc_cpu_s": 1e-5}).runtime_latencies() == new
