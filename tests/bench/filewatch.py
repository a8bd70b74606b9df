"""Wake an asyncio task when another process writes a file (Linux inotify, through ctypes).

The node benchmark waits for FR's daemon (another process) to store a receipt. Polling
the store every few milliseconds would compete for the CPU it measures; instead it waits
for the kernel to report a write to the daemon's SQLite WAL file, then looks once.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import struct
from pathlib import Path

IN_MODIFY = 0x002
IN_CLOSE_WRITE = 0x008
IN_CREATE = 0x100
_HEADER = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)


class FileWrites:
    """Writes to the file ``name`` in ``folder``, as an event to wait on.

    Use as an async context manager inside the running loop. :meth:`clear` before looking
    at the file's contents, then :meth:`wait`: a write after the look is never missed.
    """

    def __init__(self, folder: Path, name: str) -> None:
        self._folder = folder
        self._name = name.encode()
        self._fd = -1
        self._event = asyncio.Event()
        self.wakeups = 0

    async def __aenter__(self) -> FileWrites:
        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        mask = IN_MODIFY | IN_CLOSE_WRITE | IN_CREATE
        if libc.inotify_add_watch(fd, str(self._folder).encode(), mask) < 0:
            os.close(fd)
            raise OSError(ctypes.get_errno(), f"cannot watch {self._folder}")
        self._fd = fd
        asyncio.get_running_loop().add_reader(fd, self._readable)
        return self

    async def __aexit__(self, *_exc: object) -> None:
        asyncio.get_running_loop().remove_reader(self._fd)
        os.close(self._fd)

    def _readable(self) -> None:
        try:
            data = os.read(self._fd, 65536)
        except BlockingIOError:
            return
        offset = 0
        while offset + _HEADER.size <= len(data):
            _wd, _mask, _cookie, length = _HEADER.unpack_from(data, offset)
            name = data[offset + _HEADER.size : offset + _HEADER.size + length].rstrip(b"\0")
            offset += _HEADER.size + length
            if name == self._name:
                self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, timeout: float) -> None:
        """Until the file is written (since :meth:`clear`), at most ``timeout`` seconds.

        Raises:
            TimeoutError: no write within ``timeout``.
        """
        await asyncio.wait_for(self._event.wait(), timeout)
        self.wakeups += 1
