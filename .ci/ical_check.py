"""Parses a Knotwork iCalendar export with `icalendar` and checks it.

Usage: ical_check.py FILE --zone ZONE --wake HH:MM --sleep HH:MM
                     --days N --per-day N

Checks RFC 5545 framing (CRLF, lines folded at 75 octets), that the file
parses, and that every event is a well-formed plan slot: a unique UID, a
UTC start inside the person's waking hours in their zone, a positive
duration, a display alarm; and that each of the N local days holds the
planned number of events.
"""

import argparse
import collections
import datetime
import sys
import zoneinfo

import icalendar


def fail(message):
    print(f"ical_check: {message}", file=sys.stderr)
    sys.exit(1)


def minutes(hhmm):
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--zone", required=True)
    ap.add_argument("--wake", required=True)
    ap.add_argument("--sleep", required=True)
    ap.add_argument("--days", type=int, required=True)
    ap.add_argument("--per-day", type=int, required=True)
    args = ap.parse_args()

    raw = open(args.file, "rb").read()
    if not raw.endswith(b"\r\n"):
        fail("the file does not end in CRLF")
    for i, line in enumerate(raw.split(b"\r\n")):
        if b"\n" in line or b"\r" in line:
            fail(f"line {i + 1} has a bare line break")
        if len(line) > 75:
            fail(f"line {i + 1} is {len(line)} octets, longer than 75")

    cal = icalendar.Calendar.from_ical(raw)
    if cal.name != "VCALENDAR" or str(cal.get("VERSION")) != "2.0":
        fail("not an iCalendar 2.0 object")
    if not cal.get("PRODID"):
        fail("no PRODID")
    zone = zoneinfo.ZoneInfo(args.zone)
    wake, sleep = minutes(args.wake), minutes(args.sleep)
    events = list(cal.walk("VEVENT"))
    uids = set()
    per_day = collections.Counter()
    for ev in events:
        uid = str(ev.get("UID"))
        if not uid or uid in uids:
            fail(f"missing or repeated UID {uid!r}")
        uids.add(uid)
        if ev.get("DTSTAMP") is None:
            fail(f"{uid}: no DTSTAMP")
        start = ev.decoded("DTSTART")
        if not isinstance(start, datetime.datetime) or start.utcoffset() != datetime.timedelta(0):
            fail(f"{uid}: DTSTART is not a UTC date-time: {start!r}")
        local = start.astimezone(zone)
        at = local.hour * 60 + local.minute
        if not (wake <= at < (sleep if sleep > wake else 24 * 60)):
            fail(f"{uid}: {local.isoformat()} is outside the waking hours {args.wake}-{args.sleep}")
        if local.minute % 5:
            fail(f"{uid}: {local.isoformat()} is not on a 5-minute step")
        duration = ev.decoded("DURATION")
        if duration <= datetime.timedelta(0):
            fail(f"{uid}: duration {duration}")
        if not str(ev.get("SUMMARY", "")):
            fail(f"{uid}: no SUMMARY")
        alarms = [c for c in ev.subcomponents if c.name == "VALARM"]
        if len(alarms) != 1 or str(alarms[0].get("ACTION")) != "DISPLAY":
            fail(f"{uid}: expected one DISPLAY alarm")
        per_day[local.date()] += 1
    if len(per_day) != args.days:
        fail(f"events on {len(per_day)} local days, expected {args.days}: {sorted(per_day)}")
    days = sorted(per_day)
    if (days[-1] - days[0]).days != args.days - 1:
        fail(f"the days are not consecutive: {days}")
    for day, n in per_day.items():
        if n != args.per_day:
            fail(f"{day}: {n} events, expected {args.per_day}")
    print(
        f"ical: ok ({len(events)} events over {len(per_day)} days in {args.zone}, "
        f"{days[0]} to {days[-1]})"
    )


if __name__ == "__main__":
    main()
