"""The runtime's SQLite store: schema, connections, transactions, item writes, versions, audit log."""
