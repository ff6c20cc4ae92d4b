"""Clock times as options take them: `07:00` (the next time the clock shows it), `+2h` (from
now), or a date and time `2026-12-24T07:00`; kept as seconds since the epoch."""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from nst_base.errors import NstError


def parse_clock(text: str, option: str, now: float | None = None) -> float:
    """The moment `text` names, in seconds since the epoch; one line if it is not one or has passed."""
    from nst_ort.options.schema import parse_seconds

    now = time.time() if now is None else now
    text = text.strip()
    if text.startswith("+"):
        return now + parse_seconds(text[1:], option)
    try:
        if len(text) <= 5 and ":" in text:  # 07:00: today, or tomorrow once it has passed
            hours, minutes = (int(part) for part in text.split(":"))
            moment = datetime.fromtimestamp(now).replace(hour=hours, minute=minutes, second=0, microsecond=0)
            if moment.timestamp() <= now:
                moment += timedelta(days=1)
            return moment.timestamp()
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise NstError(f"{option} must be a clock time such as 07:00, a duration such as +2h, or a date and time "
                       f"such as 2026-12-24T07:00, not {text!r}") from None
    if moment.timestamp() <= now:
        raise NstError(f"{option} {text} has passed")
    return moment.timestamp()


def show_clock(moment: float) -> str:
    """The moment as the local clock shows it: `07:00` today, else with its date."""
    local = datetime.fromtimestamp(moment)
    same_day = local.date() == datetime.now().date()
    return local.strftime("%H:%M:%S" if local.second else "%H:%M") if same_day else local.strftime("%Y-%m-%dT%H:%M")


def format_seconds(seconds: float) -> str:
    """A duration in a few characters: 42s, 3m05s, 2h10m."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
