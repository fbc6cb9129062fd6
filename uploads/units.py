"""Byte sizes as operators write them: 5 MB, 1.5 GB, 512 KB, 1000 (bytes).

Units are binary (1 MB = 1024 * 1024 bytes), as file managers and browsers show them.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

UNITS = {
    "": 1,
    "b": 1,
    "byte": 1,
    "bytes": 1,
    "kb": 1024,
    "mb": 1024**2,
    "gb": 1024**3,
    "tb": 1024**4,
}
UNITS |= {"kib": UNITS["kb"], "mib": UNITS["mb"], "gib": UNITS["gb"], "tib": UNITS["tb"]}
# Commas only as thousands separators: "1,5 MB" (a decimal comma) is refused, not read as 15 MB.
SIZE_RE = re.compile(
    r"^\s*((?:[0-9]{1,3}(?:,[0-9]{3})+|[0-9][0-9_]*)(?:\.[0-9]+)?)\s*([a-zA-Z]*)\s*$"
)


def parse_bytes(text: str) -> int:
    """'5 MB' -> 5242880. Raises ValueError with a readable message."""
    match = SIZE_RE.match(text)
    unit = match.group(2).lower() if match else ""
    if not match or unit not in UNITS:
        raise ValueError(f"'{text}' is not a size. Write it like 5 MB, 512 KB or 1000.")
    try:
        number = Decimal(match.group(1).replace(",", "").replace("_", ""))
    except InvalidOperation as err:
        raise ValueError(f"'{text}' is not a size.") from err
    value = number * UNITS[unit]
    if value != value.to_integral_value():
        raise ValueError(f"'{text}' is not a whole number of bytes.")
    return int(value)


def format_bytes(value: int) -> str:
    """5242880 -> '5 MB'. Exact, so that what the admin shows saves back unchanged:
    the largest unit that divides the value, else bytes."""
    for unit in ("TB", "GB", "MB", "KB"):
        factor = UNITS[unit.lower()]
        if value >= factor and value % factor == 0:
            return f"{value // factor} {unit}"
    return f"{value} byte" if value == 1 else f"{value} bytes"
