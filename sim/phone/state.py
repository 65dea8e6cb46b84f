"""Typed access to what the lifespan hands every request: the one phone network."""

from __future__ import annotations

from starlette.requests import Request

from sim.phone.network import PhoneNetwork


def network_of(request: Request) -> PhoneNetwork:
    network = request.state.network
    assert isinstance(network, PhoneNetwork)
    return network
