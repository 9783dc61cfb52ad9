"""Scenario --> what the engine needs: the simulation mode, per-chip slowdowns and ICI link changes,
checked against the cluster (a straggler on a chip that does not exist is refused, naming the field)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from pathsim.config.experiment import ScenarioConfig
from pathsim.errors import ConfigError
from pathsim.platform.topology import DIM_NAMES, Cluster, host_block, torus_neighbour


@dataclass(frozen=True)
class LinkState:
    """Scenario changes to ICI links: capacity factors (0 = failed) keyed by undirected link."""

    factors: tuple[tuple[tuple[int, tuple[int, ...], tuple[int, ...]], float], ...] = ()

    def as_dict(self) -> dict:
        out = {}
        for (island, a, b), f in self.factors:
            out[(island, a, b)] = f
            out[(island, b, a)] = f
        return out


def choose_mode(scenario: ScenarioConfig, override: str | None) -> str:
    mode = override or scenario.mode
    if mode == "auto":
        return "full" if scenario.breaks_symmetry else "folded"
    if mode == "folded" and scenario.breaks_symmetry:
        raise ConfigError("scenario.mode", "folded mode assumes identical chips; stragglers and link changes "
                          "need mode full (or auto)")
    return mode


def _island(cluster: Cluster, index: int, field: str):
    if index >= len(cluster.islands):
        raise ConfigError(field, f"island {index} does not exist; the topology has {len(cluster.islands)}")
    return cluster.islands[index]


def _check_coord(coord: list[int], shape: tuple[int, ...], field: str, what: str) -> tuple[int, ...]:
    if len(coord) != len(shape) or any(not 0 <= c < n for c, n in zip(coord, shape)):
        raise ConfigError(field, f"{what} {coord} is outside {'x'.join(map(str, shape))}")
    return tuple(coord)


def slowdowns(scenario: ScenarioConfig, cluster: Cluster) -> dict[tuple[int, tuple[int, ...]], float]:
    out: dict[tuple[int, tuple[int, ...]], float] = {}
    for k, s in enumerate(scenario.stragglers):
        field = f"scenario.stragglers.{k}"
        island = _island(cluster, s.island, f"{field}.island")
        if s.chip is not None:
            chips = [_check_coord(s.chip, island.shape, f"{field}.chip", "chip")]
        else:
            block = host_block(cluster.chip, len(island.shape))
            hosts = tuple(max(1, -(-n // b)) for n, b in zip(island.shape, block))
            host = _check_coord(s.host, hosts, f"{field}.host", "host")
            ranges = [range(h * b, min((h + 1) * b, n)) for h, b, n in zip(host, block, island.shape)]
            chips = list(itertools.product(*ranges))
        for chip in chips:
            out[(s.island, chip)] = max(out.get((s.island, chip), 1.0), s.slowdown)
    return out


def link_state(scenario: ScenarioConfig, cluster: Cluster) -> LinkState:
    factors = []
    seen: dict[tuple, int] = {}
    for k, link in enumerate(scenario.links):
        field = f"scenario.links.{k}"
        island = _island(cluster, link.island, f"{field}.island")
        a = _check_coord(link.chip, island.shape, f"{field}.chip", "chip")
        d = DIM_NAMES.index(link.dim)
        if d >= len(island.shape):
            raise ConfigError(f"{field}.dim", f"{link.dim} is not a dim of a {len(island.shape)}D torus")
        b = list(a)
        b[d] += 1
        if b[d] == island.shape[d]:
            if not island.wraparound[d]:
                raise ConfigError(f"{field}.chip", f"chip {list(a)} has no + neighbour along {link.dim}")
            b[d] = 0
        key = (link.island, a, tuple(b))
        if key in seen:
            raise ConfigError(field, f"the same link as scenario.links.{seen[key]}; give each link once")
        seen[key] = k
        factors.append((key, link.factor))
    state = LinkState(factors=tuple(factors))
    _check_detours(scenario, cluster, state)
    return state


def _check_detours(scenario: ScenarioConfig, cluster: Cluster, state: LinkState) -> None:
    """The engine routes a failed link's traffic through one neighbouring ring (across, along, back). When
    every such detour has a failed link too (a chip cut off, a torus cut in two) nothing can route."""
    alive = state.as_dict()
    neighbour = torus_neighbour  # the torus arithmetic the engine routes by, so the two never disagree
    for k, ((ii, a, b), factor) in enumerate(state.factors):
        if factor > 0.0:
            continue
        isl = cluster.islands[ii]
        d = DIM_NAMES.index(scenario.links[k].dim)

        def detour_alive(other: int, side: int) -> bool:
            a2, b2 = neighbour(isl, a, other, side), neighbour(isl, b, other, side)
            return a2 is not None and b2 is not None and all(
                alive.get((ii, x, y), 1.0) > 0.0 for x, y in ((a, a2), (a2, b2), (b2, b)))

        if not any(detour_alive(o, side) for o in range(len(isl.shape)) if o != d for side in (1, -1)):
            raise ConfigError(f"scenario.links.{k}", f"no route around the failed link from chip {list(a)} along "
                              f"{scenario.links[k].dim}: every detour through a neighbouring ring has a failed "
                              "link too (a chip cut off or the torus cut in two)")
