-- Version 2: what the reactor reads by key instead of scanning a repository (issue 15). Each
-- event records its kind and, for a finished CI job, the job's key (`name (pipeline)`), so
-- that the change a commit is the head of, the CI jobs of a commit, the runs of one job and
-- the change and review events of a repository's changes are index lookups. Existing events
-- are filled in from their stored JSON (an escaped NUL becomes U+FFFD, as for new text).

ALTER TABLE events ADD COLUMN kind text COLLATE "C", ADD COLUMN job_key text COLLATE "C";

UPDATE events e SET
    kind = j.doc ->> 'kind',
    job_key = CASE WHEN j.doc ->> 'kind' = 'ci_job_finished' THEN
        CASE WHEN coalesce(j.doc -> 'data' ->> 'pipeline', '') = ''
             THEN j.doc -> 'data' ->> 'name'
             ELSE (j.doc -> 'data' ->> 'name') || ' (' || (j.doc -> 'data' ->> 'pipeline') || ')'
        END
    END
FROM (SELECT repo, id, replace(convert_from(data, 'UTF8'), '\u0000', '\ufffd')::jsonb AS doc
      FROM events) j
WHERE e.repo = j.repo AND e.id = j.id;

ALTER TABLE events ALTER COLUMN kind SET NOT NULL;

-- The change events naming a commit as head, and the CI jobs that ran on it.
CREATE INDEX events_by_sha_kind ON events (repo, head_sha, kind, at_ms, id)
    WHERE head_sha IS NOT NULL AND kind IN ('change', 'ci_job_finished');
-- The runs of one CI job.
CREATE INDEX events_by_job ON events (repo, job_key, at_ms, id) WHERE job_key IS NOT NULL;
-- The change and review events of a repository, by change (its changes' summaries).
CREATE INDEX events_summarised ON events (repo, change_number, at_ms, id)
    WHERE kind IN ('change', 'review');
