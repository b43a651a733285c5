-- Activity Console schema, version 4: the ids of committed OTLP requests (exactly-once ingest).
--
-- The writer records each request's id in the transaction that commits the request's rows, and
-- writes nothing for an id already here: a request replayed from the spool after a crash, or
-- retried after a flush whose COMMIT outcome was unknown, is stored once (collector/writer.py).
-- Ids are time-ordered UUIDs (version 7: the first 48 bits are the milliseconds since 1970 at
-- which the request was accepted), so retention deletes by a range of the primary key
-- (collector/delivery.py, ingest_request_id_floor) and needs no other index.
CREATE TABLE ingest_requests (
    id UUID PRIMARY KEY
);
