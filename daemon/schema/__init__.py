"""The line schema: the table of a tick line's fields (:mod:`.fields`) and the formatters
that write lines from it (:mod:`.lines`)."""
