-- Version 3: delivery bodies (webhook JSON, typically 5-100 KB) are compressed with lz4
-- instead of PostgreSQL's default pglz. pglz is the single largest cost of storing a
-- delivery: on the 25.9 KB pull_request fixture it took about 1.1 ms of CPU per row against
-- 0.2 ms for lz4, with a smaller result (bench notes in docs/benchmarks.md). Only rows
-- written from now on are affected; older bodies stay readable as they are. Servers before
-- PostgreSQL 14, or built without lz4, keep pglz.
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        BEGIN
            EXECUTE 'ALTER TABLE deliveries ALTER COLUMN body SET COMPRESSION lz4';
        EXCEPTION WHEN feature_not_supported THEN
            RAISE NOTICE 'lz4 is not available on this server; delivery bodies stay pglz';
        END;
    END IF;
END
$$;
