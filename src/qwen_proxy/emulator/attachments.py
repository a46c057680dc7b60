"""What a completion message's ``files[]`` names, looked up in the emulator's storage.

An entry is found by its ``id`` (the grant's ``file_id``) or by its ``url``; it counts only when
the bytes arrived and belong to the caller. A document counts as read once parsing was asked
for and its ``parse_delay`` has passed; the text of a read text document becomes part of its
message for the model.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any
from urllib.parse import urlsplit

from qwen_proxy.emulator.config import Account
from qwen_proxy.emulator.model import Attachment
from qwen_proxy.emulator.state import EmulatorState, StoredFile

TEXT_TYPES = ("text/", "application/json", "application/xml")


def find_slot(state: EmulatorState, entry: dict[str, Any]) -> StoredFile | None:
    """The upload an entry names, by id or by its URL's path."""
    file_id = entry.get("id")
    if isinstance(file_id, str) and file_id in state.files:
        return state.files[file_id]
    url = entry.get("url")
    if isinstance(url, str):
        parts = urlsplit(url).path.split("/")
        if len(parts) > 2 and parts[1] == "__files__":
            return state.files.get(parts[2])
    return None


def parsed(state: EmulatorState, slot: StoredFile) -> bool:
    """Whether parsing was asked for and has had its time."""
    started = slot.parse_started
    return started is not None and time.monotonic() - started >= state.knobs.parse_delay


def read_files(
    state: EmulatorState, account: Account, message: dict[str, Any]
) -> tuple[tuple[Attachment, ...], str]:
    """The attachments of a message and the text of its read text documents."""
    entries = message.get("files")
    if not isinstance(entries, list):
        return (), ""
    found: list[Attachment] = []
    texts: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        inner = entry.get("file")
        named = inner.get("filename") if isinstance(inner, dict) else None
        name = str(entry.get("name") or named or "unnamed")
        file_class = str(entry.get("file_class") or "")
        slot = find_slot(state, entry)
        if slot is None or slot.data is None or slot.owner != account.user_id:
            found.append(Attachment(name, file_class))
            continue
        document = file_class == "document"
        read = not document or parsed(state, slot)
        found.append(
            Attachment(
                name,
                file_class,
                slot.content_type,
                len(slot.data),
                hashlib.sha256(slot.data).hexdigest(),
                parsed=read,
            )
        )
        if document and read and slot.content_type.startswith(TEXT_TYPES):
            texts.append(slot.data.decode("utf-8", "replace"))
    return tuple(found), "\n\n".join(texts)
