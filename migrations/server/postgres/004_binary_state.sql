-- Record states are written in binary (see crates/server/src/state.rs): the column
-- becomes bytea. The JSON text written before is kept as its UTF-8 bytes, which the
-- server still reads; a record is rewritten in binary the next time it changes. Stop
-- every server process on this database before it runs: an older server cannot read
-- the new column, and there is no way back.
ALTER TABLE records ALTER COLUMN state DROP DEFAULT;
ALTER TABLE records ALTER COLUMN state TYPE BYTEA USING convert_to(state, 'UTF8');
ALTER TABLE records ALTER COLUMN state SET DEFAULT '\x7b7d'::bytea;
-- lz4, as 003 chose for the text, set again for the new type.
DO $$
BEGIN
    EXECUTE 'ALTER TABLE records ALTER COLUMN state SET COMPRESSION lz4';
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value OR syntax_error THEN
    RAISE NOTICE 'lz4 is not available: keeping pglz';
END $$;
