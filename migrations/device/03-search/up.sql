-- Short searches (one or two characters) match the start of the address,
-- case-insensitively, through this index.
CREATE INDEX households_address_nocase ON households(address COLLATE NOCASE);
