-- Activity Console schema, version 10: the words of a message, as free-text search reads them.
--
-- A word is a run of ASCII letters and digits, lower-cased (ASCII only: translate() does not
-- depend on the database's locale, and the live tail's Python twin, collector/query/words.py,
-- splits the same way), taken from the message's first 100,000 characters. A free-text term of a
-- query matches a message that contains the term (ILIKE) and each of the term's words as a whole
-- word; the closed days' GIN index on this function's value answers the second test without
-- reading the rows (collector/partitions.py).
CREATE FUNCTION activity_message_words(message text) RETURNS text[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN regexp_split_to_array(
        translate(left(message, 100000), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz'),
        '[^a-z0-9]+');
