-- core.import_rows now keeps non-ASCII symbols and classes as typed and shortens the texts
-- messages quote, which core.import_rows_checked did on top of it: one parser for the
-- positions array (the import's checks and its insert read the same rows).
drop function if exists core.import_rows_checked(jsonb);
