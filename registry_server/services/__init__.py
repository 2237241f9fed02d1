"""Domain services of the registry: storage, blobs, auth, publish, resolve, search, audit.

Routes (JSON API now, HTML pages later) call these; they raise ``registry_server.errors``.
"""
