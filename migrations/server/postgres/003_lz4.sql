-- Log blocks and record states are a few kilobytes each, so PostgreSQL compresses them
-- (TOAST). Its default, pglz, cost more CPU than the rest of a bulk push; lz4 is several
-- times faster at a similar size. Values stored before keep their compression and read
-- as before. A PostgreSQL built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE log ALTER COLUMN changes SET COMPRESSION lz4;
    ALTER TABLE records ALTER COLUMN state SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available: keeping pglz';
END $$;
