#!/usr/bin/env python3
"""Job sets for `canopy carbon simulate`, written as CSV (arrival, duration_minutes, deadline,
earliest). Our own re-implementation of the scenarios of Let's Wait Awhile (Wiesner et al.,
Middleware 2021), from the procedure described in the paper and its simulator:

  adhoc    Scenario II: 3,387 jobs of 4-90 hours submitted at a random half hour between 09:00
           and 17:00 on a random workday (numpy default_rng(0), as the paper), which must finish
           by the start of the next workday (09:00) when they would end outside working hours.
           Needs numpy (the same seeded generator gives the paper's job set).
  nightly  Scenario I: a 30-minute job every day at 01:00 that may start anywhere within +-N hours.
  reruns   CI reruns: submitted at a random minute of working hours on workdays, durations drawn
           from the Linux Foundation releng Jenkins builds (../shared/data/ci/), deadline D hours.

usage: jobs.py adhoc YEAR OUT.csv | nightly YEAR HOURS OUT.csv | reruns YEAR HOURS CI_CSV OUT.csv
"""
import csv
import datetime as dt
import random
import sys

FMT = "%Y-%m-%d %H:%M:%S"


def write(path, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["arrival", "duration_minutes", "deadline", "earliest"])
        for arrival, minutes, deadline, earliest in rows:
            w.writerow([arrival.strftime(FMT), minutes, deadline.strftime(FMT), earliest.strftime(FMT)])


def next_workday_deadline(arrival, minutes):
    """The paper's `next_workday` rule on the original finish time."""
    oft = arrival + dt.timedelta(minutes=minutes)
    time = oft.hour + (0.5 if oft.minute == 30 else 0)
    nine = oft.replace(hour=9, minute=0, second=0)
    if oft.weekday() == 5:
        finish = nine + dt.timedelta(days=2)
    elif oft.weekday() == 6 or time > 17:
        finish = nine + dt.timedelta(days=1)
    elif time < 9:
        finish = nine
    else:
        finish = oft
    return max(finish, oft)


def adhoc(year):
    import numpy as np

    rng = np.random.default_rng(0)
    n = 3387
    durations_choices = list(range(4 * 60, 90 * 60, 30))
    start_choices = list(range(9 * 60, 17 * 60, 30))
    days = [dt.datetime(year, 1, 1) + dt.timedelta(days=i) for i in range((dt.datetime(year, 12, 31) - dt.datetime(year, 1, 1)).days + 1)]
    usable = [d for d in days if d.weekday() <= 4]
    per_day = dict(zip(usable, rng.multinomial(n, [1 / len(usable)] * len(usable))))
    arrivals = []
    for d in days:
        k = int(per_day.get(d, 0))
        for m in np.sort(rng.choice(start_choices, size=k)):
            arrivals.append(d + dt.timedelta(minutes=int(m)))
    durations = rng.choice(durations_choices, size=n)
    rows = []
    for a, m in zip(arrivals, durations):
        m = int(m)
        rows.append((a, m, next_workday_deadline(a, m), a))
    return rows


def nightly(year, hours):
    rows = []
    d = dt.datetime(year, 1, 1, 1, 0)
    while d.year == year:
        flex = dt.timedelta(hours=hours)
        rows.append((d, 30, d + flex + dt.timedelta(minutes=30), d - flex))
        d += dt.timedelta(days=1)
    return rows


def reruns(year, hours, ci_csv):
    with open(ci_csv) as f:
        durations = [int(r["duration_s"]) for r in csv.DictReader(f) if r["duration_s"].isdigit() and int(r["duration_s"]) > 0]
    rnd = random.Random(0)
    rows = []
    d = dt.datetime(year, 1, 1)
    while d.year == year:
        if d.weekday() <= 4:
            for _ in range(8):
                a = d + dt.timedelta(minutes=rnd.randrange(9 * 60, 17 * 60))
                minutes = max(1, round(rnd.choice(durations) / 60))
                rows.append((a, minutes, a + dt.timedelta(hours=hours), a))
        d += dt.timedelta(days=1)
    return rows


def main(argv):
    kind = argv[1]
    year = int(argv[2])
    if kind == "adhoc":
        write(argv[3], adhoc(year))
    elif kind == "nightly":
        write(argv[4], nightly(year, float(argv[3])))
    elif kind == "reruns":
        write(argv[5], reruns(year, float(argv[3]), argv[4]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    if len(sys.argv) < 4:
        sys.exit(__doc__)
    main(sys.argv)
