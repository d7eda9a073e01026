"""The embedder loads from local files only, without switching the whole process offline."""

from __future__ import annotations

import os
import socket

import pytest

from gorilla.errors import GorillaError
from gorilla.retrieval.embedder import load_embedder

OFFLINE_VARS = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")


@pytest.fixture
def no_network(monkeypatch):
    """Every connection attempt, recorded and refused; the offline switches unset, as in a user's shell."""
    tried: list = []

    def refuse(self, address):
        tried.append(address)
        raise OSError("network refused by the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    for var in OFFLINE_VARS:
        monkeypatch.delenv(var, raising=False)
    return tried


def test_packaged_embedder_leaves_the_environment_alone(no_network, one_thread):
    embedder = load_embedder.__wrapped__(None)  # the uncached body: a real load
    assert embedder.encode_query("classify birds").shape == (1, embedder.dim)
    assert not no_network and not any(var in os.environ for var in OFFLINE_VARS)


def test_an_uncached_hub_id_is_a_one_line_error_without_the_network(no_network, one_thread):
    with pytest.raises(GorillaError, match=r"embedder 'gorilla-tests/no-such-embedder' is not available offline"):
        load_embedder.__wrapped__("gorilla-tests/no-such-embedder")
    assert not no_network and not any(var in os.environ for var in OFFLINE_VARS)
