"""Plan enumeration: every factorization, and nothing that is not a plan."""

from __future__ import annotations

import math

from pathsim.studies.whatif.enumerate import all_plans, factorizations


def test_factorization_count_matches_stars_and_bars():
    # 3072 = 2^10 * 3: each prime's exponent spreads over 4 ordered axes independently.
    n, k = 3072, 4
    assert len(set(factorizations(n, k))) == math.comb(10 + k - 1, k - 1) * math.comb(1 + k - 1, k - 1)
    assert all(math.prod(f) == n for f in factorizations(n, k))


def test_all_plans_cover_the_chips_and_keep_axes_off_both_networks():
    plans = list(all_plans(64, 2, ["tensor", "fsdp", "data", "pipeline"], ["data", "fsdp", "pipeline"],
                           [1, 2], ["none", "full"]))
    for point in plans:
        p = dict(point)
        assert math.prod(p["plan.ici"].values()) == 64 and math.prod(p["plan.dcn"].values()) == 2
        assert not any(k in p["plan.ici"] for k in p["plan.dcn"] if k != "data")
    # 84 ICI factorizations; DCN: data always, fsdp/pipeline only when ICI lacks them.
    ici = [dict(zip(("tensor", "fsdp", "data", "pipeline"), f)) for f in factorizations(64, 4)]
    expected = sum(1 + (i["fsdp"] == 1) + (i["pipeline"] == 1) for i in ici) * 2 * 2
    assert len(plans) == expected
