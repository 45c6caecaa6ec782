"""The controller lease on a real Barn: one holder, hand-over on stop and on death."""

from __future__ import annotations

import time

import pytest

from reconciler.leader import ControllerLease
from runink.barn import RemoteBarn

pytestmark = pytest.mark.timeout(90)


def test_only_one_server_leads_and_the_other_takes_over_when_it_stops(barn: RemoteBarn) -> None:
    a = ControllerLease(barn, "server-a", ttl=2)
    b = ControllerLease(barn, "server-b", ttl=2)
    assert a.step() is True
    assert b.step() is False
    assert a.holder() == "server-a"
    a.stop()  # hands the lease back at once
    assert b.step() is True and b.holder() == "server-b"
    assert a.is_leader() is False


def test_a_holder_that_stops_renewing_loses_and_another_leads(barn: RemoteBarn) -> None:
    a = ControllerLease(barn, "server-a", ttl=1)
    b = ControllerLease(barn, "server-b", ttl=1)
    assert a.step()
    time.sleep(0.8)
    assert not a.is_leader()  # steps down before its lease can expire
    deadline = time.monotonic() + 20
    while not b.step():  # Barn expires a's lease; b's next campaign wins
        assert time.monotonic() < deadline, "the dead holder's lease never expired"
        time.sleep(0.2)
    assert a.step() is False  # the old holder finds its lease gone and does not lead
    assert b.holder() == "server-b"
