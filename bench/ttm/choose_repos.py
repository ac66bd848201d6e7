#!/usr/bin/env python3
"""Chooses the time-to-merge hold-out and extra development repositories from the Gousios
pullreqs data/ folder, by a fixed rule written down before any tuning (docs/models.md).

Candidates: project files with a known language and at least 250 merged PRs, other than the
seven shared development files. Strata: language (java, python, ruby, scala) x size band by
merged PRs (small 250-599, medium 600-1499, large 1500+).

Round 1 (2026-12-01): in each stratum the candidates are ordered by
sha256("canopy-ttm-holdout:" + file name); the first is HOLD-OUT, the second is EXTRA
DEVELOPMENT (may be used for tuning).

Round 2 (2026-12-01 night, `--round 2`): the round-1 hold-out had been read three times, so it
joined development and a new hold-out was drawn. Candidates as above minus every file round 1
chose; in each stratum they are ordered by sha256("canopy-ttm-holdout-2:" + file name); the
first is HOLD-OUT-2, and the second too in strata with at least 20 remaining candidates.
Round 3 (2026-12-02, `--round 3`): hold-out #2 had been read once, so it joined development and
a new hold-out was drawn. Candidates as above minus every file rounds 1 and 2 chose; in each
stratum they are ordered by sha256("canopy-ttm-holdout-3:" + file name); the first is
HOLD-OUT-3, and the second too in strata with at least 20 remaining candidates.
Round 4 (2026-12-02, `--round 4`): hold-out #3 had been read once, so it joined development and
a new hold-out was drawn the same way with sha256("canopy-ttm-holdout-4:" + file name), minus
every file rounds 1-3 chose. It is evaluated with the size at opening rebuilt from the
repository's git history (bench/ttm/size_at_open.py), so it needs the repository's mirror: a
file whose repository cannot be fetched, or has no refs/pull/*/head, is replaced by the next
file in its stratum's order (the replacements are recorded in docs/models.md).
Round 5 (2026-12-02, `--round 5`): hold-out #4 had been read once, so it joined development; the
same rule as round 4 with sha256("canopy-ttm-holdout-5:" + file name), minus every file rounds
1-4 chose, round 4's replaced files and replacements included (ROUND4_TRIED).
Round 6 (2026-12-02, session 11, `--round 6`): hold-out #5 had been read once, so it joined
development; the same rule as round 5 with sha256("canopy-ttm-holdout-6:" + file name), minus
every file rounds 1-5 chose, minus ROUND4_TRIED and ROUND5_TRIED (round 5's chosen files that
could not be fetched and the spares tried as their replacements).
Round 7 (2026-12-02, session 11, `--round 7`): hold-out #6 had been read once, so it joined
development; the same rule as round 6 with sha256("canopy-ttm-holdout-7:" + file name), minus
every file rounds 1-6 chose, minus ROUND4_TRIED, ROUND5_TRIED and ROUND6_TRIED (round 6's
chosen file that could not be fetched and the spare that replaced it).
Round 8 (2026-12-02, session 11, `--round 8`): hold-out #7 had been read once, so it joined
development; the same rule as round 7 with sha256("canopy-ttm-holdout-8:" + file name), minus
every file rounds 1-7 chose, minus ROUND4_TRIED, ROUND5_TRIED, ROUND6_TRIED and ROUND7_TRIED
(round 7's chosen files that could not be fetched and every spare tried as their replacement,
fetchable or not).
Round 9 (2026-12-02, session 12, `--round 9`): hold-out #8 had been read once, so it joined
development; the same rule as round 8 with sha256("canopy-ttm-holdout-9:" + file name), minus
every file rounds 1-8 chose, minus ROUND4_TRIED ... ROUND8_TRIED (round 8's chosen files that
could not be fetched and every spare tried as their replacement), and it takes THREE files per
stratum (the first three in order) rather than one or two, so that the pooled figure rests on
about twice as many test merges.
Round 10 (2026-12-02, session 13, `--round 10`): hold-out #9 had been read once, so it joined
development; the same rule as round 9 with sha256("canopy-ttm-holdout-10:" + file name), minus
every file rounds 1-9 chose and ROUND4_TRIED ... ROUND9_TRIED, three files per stratum. Only
java, python and ruby small and medium have candidates left (ruby medium two).
Nothing about the outcome is looked at in any round.

Usage: python3 bench/ttm/choose_repos.py DATA_DIR [--round 2|3|4|5|6|7|8|9|10] [--spare N]   (the pullreqs data/ folder)
"""
import csv
import hashlib
import os
import sys

DEV = {"rails@rails.csv", "scala@scala.csv", "sympy@sympy.csv", "ipython@ipython.csv",
       "django@django.csv", "pydata@pandas.csv", "matplotlib@matplotlib.csv"}
BANDS = [("small", 250, 600), ("medium", 600, 1500), ("large", 1500, 10**9)]
LAST_ROUND = 10
TAKE9 = 3  # rounds 9 and later take the first three files of every stratum
SECOND_FROM = 20
# Round 4's replacements, tried in order (docs/models.md, session 10): chosen files that could
# not be fetched and the spares that replaced them.
ROUND4_TRIED = {
    "dimagi@commcare-hq.csv", "ros@rosdistro.csv", "mxcl@homebrew.csv", "Katello@katello.csv",
    "divio@django-cms.csv", "onepercentclub@onepercentclub-site.csv", "Pylons@pyramid.csv",
    "buildbot@buildbot.csv", "mozilla@remo.csv", "omab@django-social-auth.csv",
    "openmicroscopy@ome-documentation.csv", "naparuba@shinken.csv",
    "ProjectMeniscus@meniscus.csv", "praekelt@vumi.csv", "ooici@pyon.csv",
    "scieloorg@SciELO-Manager.csv",
}  # rounds 2 and 3: strata with at least this many candidates give two files
# Round 5's replacements (docs/models.md, "Hold-out #5 (session 10)"): chosen files that could
# not be fetched and the spares tried in their place, fetchable or not.
ROUND5_TRIED = {
    "gatein@gatein-portal.csv", "geoserver@geoserver.csv", "C3C0@GravityBox.csv",
    "projectwonder@wonder.csv", "candlepin@candlepin.csv", "gittip@www.gittip.com.csv",
    "sunpy@sunpy.csv", "rapid7@metasploit-framework.csv",
}
# Round 6's replacement (docs/models.md, "Hold-out #6 (session 11): drawn"): the chosen file
# that could not be fetched (no refs/pull) and the spare that replaced it.
ROUND6_TRIED = {"progit@progit.csv", "errbit@errbit.csv"}
# Round 7's replacements (docs/models.md, "Hold-out #7 (session 11): drawn"): the chosen files
# that could not be fetched and every spare tried in their place, fetchable or not.
ROUND7_TRIED = {
    "mozilla@bedrock.csv", "Theano@Theano.csv", "facebook@tornado.csv",
    "statsmodels@statsmodels.csv", "c00w@bitHopper.csv", "leapcode@bitmask_client.csv",
    "AppScale@appscale-tools.csv", "leapcode@leap_client.csv", "mozilla@firefox-flicks.csv",
    "qiime@qiime.csv", "caktus@django-timepiece.csv", "wajam@nrv.csv", "scala-ide@scala-ide.csv",
}
# Round 8's replacements (docs/models.md, "Hold-out #8 (session 11): drawn"): the chosen files
# that could not be fetched and every spare tried in their place, fetchable or not.
ROUND8_TRIED = {
    "SpoutDev@Spout.csv", "Governance@s-ramp.csv", "okfn@ckan.csv", "gem@oq-engine.csv",
    "cakephp@docs.csv", "elaird@ra1stats.csv", "Bitmessage@PyBitmessage.csv",
}
# Round 9's replacements (docs/models.md, "Hold-out #9 (session 12): drawn"): every spare tried
# in place of a chosen file, fetchable or not (the chosen files themselves are round 9's).
ROUND9_TRIED = {
    "infinispan@infinispan.csv", "sonatype@nexus.csv", "openengsb@openengsb-framework.csv",
    "gkhachik@katello-api.csv", "hibernate@hibernate-search.csv", "ninja-ide@ninja-ide.csv",
    "OpenMDAO@OpenMDAO-Framework.csv", "learningequality@ka-lite.csv", "flavour@eden.csv",
    "SciTools@iris.csv", "loomio@loomio.csv", "otwcode@otwarchive.csv",
    "alphagov@smart-answers.csv",
}
# Each round's tried replacements, left out of every later round.
TRIED = {4: ROUND4_TRIED, 5: ROUND5_TRIED, 6: ROUND6_TRIED, 7: ROUND7_TRIED, 8: ROUND8_TRIED,
         9: ROUND9_TRIED}


def salt(k):
    """The hash salt of round k."""
    return "canopy-ttm-holdout:" if k == 1 else f"canopy-ttm-holdout-{k}:"


def summary(path):
    n = merged = 0
    lang = None
    with open(path, newline="") as fh:
        for r in csv.DictReader(fh):
            n += 1
            lang = r["lang"] or lang
            merged += bool(r["merged_at"])
    return n, merged, lang


def candidates(data):
    """(language, band) -> [(file name, PRs, merged)] for every candidate file."""
    strata = {}
    for name in sorted(os.listdir(data)):
        if not name.endswith(".csv") or name in DEV:
            continue
        n, merged, lang = summary(os.path.join(data, name))
        band = next((b for b, lo, hi in BANDS if lo <= merged < hi), None)
        if lang is None or band is None:
            continue
        strata.setdefault((lang, band), []).append((name, n, merged))
    return strata


def ranked(rows, salt):
    """The stratum's files ordered by the seeded hash of their names."""
    return sorted(rows, key=lambda r: hashlib.sha256((salt + r[0]).encode()).hexdigest())


def round1(strata):
    """[(role, language, band, row)] of round 1."""
    out = []
    for (lang, band) in sorted(strata):
        for role, row in zip(["holdout", "extra_dev"], ranked(strata[(lang, band)], salt(1))):
            out.append((role, lang, band, row))
    return out


def later_round(strata, k, spare=0):
    """[(role, language, band, row)] of round k >= 2: the new hold-out, drawn from the
    candidates no earlier round chose, followed by `spare` replacements per stratum (role
    `spareK`, in order) for files whose repository cannot be fetched."""
    used = {row[0] for _, _, _, row in round1(strata)}
    for j in range(2, k):
        used |= {row[0] for _, _, _, row in later_round(strata, j)}
    for j, tried in TRIED.items():
        if k > j:
            used |= tried
    out = []
    for (lang, band) in sorted(strata):
        rest = ranked([r for r in strata[(lang, band)] if r[0] not in used], salt(k))
        take = TAKE9 if k >= 9 else 2 if len(rest) >= SECOND_FROM else 1
        out.extend((f"holdout{k}", lang, band, row) for row in rest[:take])
        out.extend((f"spare{k}", lang, band, row) for row in rest[take:take + spare])
    return out


def main(args):
    data = next((a for a in args if not a.startswith("--") and not a.isdigit()), "data")
    k = args[args.index("--round") + 1] if "--round" in args else "1"
    spare = int(args[args.index("--spare") + 1]) if "--spare" in args else 0
    if k not in [str(j) for j in range(1, LAST_ROUND + 1)]:
        sys.exit(f"--round must be 1 to {LAST_ROUND}, not {k!r}")
    k = int(k)
    strata = candidates(data)
    # Rounds 2 and 3 had no spares.
    chosen = round1(strata) if k == 1 else later_round(strata, k, spare if k > 3 else 0)
    print("role\tlanguage\tband\tfile\tPRs\tmerged")
    for role, lang, band, row in chosen:
        print(f"{role}\t{lang}\t{band}\t{row[0]}\t{row[1]}\t{row[2]}")


if __name__ == "__main__":
    main(sys.argv[1:])
