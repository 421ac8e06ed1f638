-- Log blocks and record states are a few kilobytes each, so PostgreSQL compresses them
-- (TOAST). Its default, pglz, cost more CPU than the rest of a bulk push; lz4 is several
-- times faster at a similar size. Values stored before keep their compression and read
-- as before. A PostgreSQL without lz4 (built without it, or older than 14, which has
-- no per-column compression) keeps pglz: the statements run through EXECUTE so that
-- such a server refuses them inside the handler below.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE log ALTER COLUMN changes SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE records ALTER COLUMN state SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value OR syntax_error THEN
    RAISE NOTICE 'lz4 is not available: keeping pglz';
END $$;
