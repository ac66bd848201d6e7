#!/usr/bin/env python3
"""The same best-window query as `cargo bench -p canopy-policies --bench window`, done the way
Let's Wait Awhile's simulator does it (pandas rolling mean over the forecast, argmin), for a
side-by-side figure. Same synthetic year: 35,040 points at 15 minutes, a 2-hour job."""
import math
import timeit

import numpy as np
import pandas as pd

idx = pd.date_range("2020-01-01", periods=365 * 96, freq="15min")
i = np.arange(len(idx))
vals = 300 + 120 * np.sin((i % 96) / 4 / 24 * 2 * math.pi) + 40 * np.cos((i // 96) / 7)
s = pd.Series(vals, index=idx)


def whole_year():
    m = s.rolling(8).mean()[7:]
    return m.index[np.argmin(m.values)]


def twelve_hours():
    f = s[idx[180 * 96]: idx[180 * 96] + pd.Timedelta(hours=12)]
    m = f.rolling(8).mean()[7:]
    return m.index[np.argmin(m.values)]


for name, fn in [("whole year", whole_year), ("12 h deadline", twelve_hours)]:
    n = 200
    t = min(timeit.repeat(fn, number=n, repeat=5)) / n
    print(f"pandas rolling mean, {name}: {t * 1e6:.0f} µs")
