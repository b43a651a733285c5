-- Activity Console schema, version 3: the writer reserves ids in blocks.
--
-- Each nextval() of activity_logs_id_seq now hands out a block of 1,024 ids (the value returned
-- and the 1,023 after it), so the writer pays one sequence call per block instead of one per row
-- (collector/id_blocks.py reads the block size from the sequence). Ids stay unique across every
-- process on the database; a block a process does not finish leaves a gap, which nothing relies
-- on (cursors compare ids, they never count them).
ALTER SEQUENCE activity_logs_id_seq INCREMENT BY 1024;
