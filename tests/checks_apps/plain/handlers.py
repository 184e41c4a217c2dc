"""Logging handlers, not signal handlers: nothing for W001 to report."""

from __future__ import annotations

import logging
import socket


class AuditHandler(logging.Handler):
    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__()
        self.address = address

    def emit(self, record: logging.LogRecord) -> None:
        with socket.socket() as connection:
            connection.connect(self.address)
            connection.sendall(self.format(record).encode())
