"""The header's KIS session label: every session state the daemon can report has a colour."""

from __future__ import annotations

from observer.console import format as fmt
from observer.console.widgets import header
from observer.v1 import observer_pb2 as pb


def test_every_session_state_has_its_colour_and_a_refused_session_stands_out() -> None:
    states = [v.number for v in pb.SessionState.DESCRIPTOR.values if v.number]
    assert sorted(header._SESSION_STYLE) == sorted(states)
    assert header._SESSION_STYLE[pb.SESSION_STATE_APPKEY_IN_USE] == "bold red"
    assert fmt.session_label(pb.SESSION_STATE_APPKEY_IN_USE) == "appkey in use"
