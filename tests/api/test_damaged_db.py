"""A damaged SQLite file or write-ahead log is refused at start with one clear message."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import text

from ondemand.api.db import create_api_key
from ondemand.api.persistence import Database
from ondemand.cli import main
from ondemand.errors import DatabaseCorruptError


def _filled(path: Path, operators: int, *, per_commit: int = 1) -> Database:
    """A database at ``path`` with ``operators`` operators, ``per_commit`` per transaction (left open)."""
    db = Database(f"sqlite:///{path}")
    for first in range(0, operators, per_commit):
        with db.write() as session:
            for k in range(first, min(operators, first + per_commit)):
                create_api_key(session, f"op{k}")
            session.commit()
    return db


def _crash_copy(db: Database, src: Path, dst: Path) -> None:
    """Copy the database file and its WAL as a crash would leave them (the WAL not checkpointed)."""
    shutil.copy(src, dst)
    shutil.copy(f"{src}-wal", f"{dst}-wal")
    db.dispose()


def _count_operators(path: Path) -> int:
    db = Database(f"sqlite:///{path}")
    try:
        with db.read() as session:
            return int(session.execute(text("SELECT count(*) FROM operators")).scalar_one())
    finally:
        db.dispose()


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Random bytes instead of a database: DatabaseCorruptError naming the file; the CLI prints one line."""
    path = tmp_path / "ondemand.db"
    path.write_bytes(os.urandom(8192))
    with pytest.raises(DatabaseCorruptError, match="not a SQLite database"):
        Database(f"sqlite:///{path}")
    with pytest.raises(SystemExit) as code:
        main(["keys", "list", "--db", f"sqlite:///{path}"])
    assert code.value.code == 2
    err = " ".join(capsys.readouterr().err.split())  # the message is soft-wrapped to the terminal
    assert "Traceback" not in err
    assert str(path) in err
    assert "backup" in err


def test_a_damaged_page_is_found_by_the_start_up_check(tmp_path: Path) -> None:
    """A database whose table pages were overwritten is refused (PRAGMA quick_check) rather than half-read."""
    path = tmp_path / "ondemand.db"
    _filled(
        path, 400, per_commit=100
    ).dispose()  # closing the last connection checkpoints the WAL into the file
    assert not Path(f"{path}-wal").exists() or Path(f"{path}-wal").stat().st_size == 0
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 8 * page
    for k in range(3, len(data) // page):  # scribble over every page after the first three
        data[k * page + 8 : k * page + 40] = b"\xa5" * 32
    path.write_bytes(bytes(data))
    with pytest.raises(DatabaseCorruptError, match="damaged"):
        Database(f"sqlite:///{path}")


def test_a_damaged_wal_is_refused_instead_of_dropping_bookings(tmp_path: Path) -> None:
    """A bit flip early in the WAL would make SQLite drop all later commits silently: refused."""
    live = tmp_path / "live.db"
    db = _filled(live, 30)
    copy = tmp_path / "copy.db"
    _crash_copy(db, live, copy)
    assert _count_operators(tmp_path / "live.db") == 30
    wal = Path(f"{copy}-wal")
    data = bytearray(wal.read_bytes())
    page = int.from_bytes(data[8:12], "big")
    data[32 + 3 * (page + 24) + 24 + 100] ^= 0xFF  # one byte in the fourth frame's page
    wal.write_bytes(bytes(data))
    with pytest.raises(DatabaseCorruptError, match="write-ahead log") as err:
        Database(f"sqlite:///{copy}")
    assert "backup" in str(err.value)
    assert wal.read_bytes() == bytes(data)  # the evidence is left as it was


def test_an_intact_wal_after_a_crash_is_accepted(tmp_path: Path) -> None:
    """The WAL a crash leaves behind (not checkpointed) passes the check and every commit is there."""
    live = tmp_path / "live.db"
    db = _filled(live, 30)
    copy = tmp_path / "copy.db"
    _crash_copy(db, live, copy)
    assert Path(f"{copy}-wal").stat().st_size > 0
    assert _count_operators(copy) == 30


def test_a_torn_last_transaction_is_not_called_damage(tmp_path: Path) -> None:
    """A WAL whose last, unacknowledged commit was cut short (power cut) opens with the earlier commits."""
    live = tmp_path / "live.db"
    db = _filled(live, 30)
    copy = tmp_path / "copy.db"
    _crash_copy(db, live, copy)
    wal = Path(f"{copy}-wal")
    data = bytearray(wal.read_bytes())
    page = int.from_bytes(data[8:12], "big")
    frames = (len(data) - 32) // (page + 24)
    data[32 + (frames - 1) * (page + 24) + 24 + 100] ^= 0xFF  # the last frame: the last commit only
    wal.write_bytes(bytes(data))
    assert _count_operators(copy) == 29
