-- Voordeur device database, version 7: `record_versions.versions` is written as a
-- canonical binary value (postcard: format tag, the record's devices, each field's wall,
-- counter, device and change id) instead of JSON text. The JSON forms versions 5 and 6
-- wrote are still read and are rewritten when a record next changes, so nothing is
-- converted here. The new version number keeps an older app, which cannot read the
-- binary form, from opening a database this one has written.
SELECT 1;
