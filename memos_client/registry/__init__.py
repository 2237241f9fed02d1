"""The registry client: one class (:mod:`.client`) over one transport (:mod:`.transport`).

``client`` holds the policy and one method per endpoint; ``answers`` turns answers into documents
(:mod:`mip.registry_api`) or errors; ``transport`` moves the bytes (``deadlines``, ``sendfile``,
``proxies`` are its parts); ``settings`` are the bounds; ``config`` says which registry and which
credential belongs to which origin.
"""
