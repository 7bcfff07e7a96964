"""A simulated kill -9 for the resume tests: a patched function raises at its n-th call."""


class SimulatedKill(BaseException):
    """Not an Exception: nothing in the study may catch it, as nothing survives a kill -9."""


def kill_at(monkeypatch, owner, name: str, call: int):
    """Make `owner.name` raise SimulatedKill on its `call`-th call (1-based)."""
    original = getattr(owner, name)
    calls = {"n": 0}

    def killing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == call:
            raise SimulatedKill(f"{name} call {call}")
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, killing)
