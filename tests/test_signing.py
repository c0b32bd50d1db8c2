"""The site key: created once in the data dir, the same for every caller, even callers racing at start-up."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

from paperboy.config import Settings
from paperboy.signing import KEY_FILE, load_secret_key


def test_callers_racing_on_a_fresh_data_dir_all_get_the_one_key(tmp_path: Path) -> None:
    """`paperboy serve` starts the web app and its background jobs at once: each loads the key."""
    settings = Settings(home=tmp_path / "data")
    keys: list[bytes] = []
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def load() -> None:
        start.wait()
        try:
            keys.append(load_secret_key(settings))
        except BaseException as exc:  # collected so the assertion below shows it
            errors.append(exc)

    threads = [threading.Thread(target=load) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(keys) == 8 and len(set(keys)) == 1 and len(keys[0]) >= 32
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == [KEY_FILE], "no temporary files left"
    assert stat.S_IMODE((tmp_path / "data" / KEY_FILE).stat().st_mode) == 0o600
    assert load_secret_key(settings) == keys[0]


def test_a_configured_key_wins_and_writes_nothing(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "data", secret_key="configured-key-" + "x" * 32)
    assert load_secret_key(settings) == ("configured-key-" + "x" * 32).encode()
    assert not (tmp_path / "data" / KEY_FILE).exists()
