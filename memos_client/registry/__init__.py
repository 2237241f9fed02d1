"""The registry client: one class (:mod:`.client`) over one transport (:mod:`.transport`).

``client`` is :class:`~.client.RegistryClient`, one method per endpoint; its base ``calls`` holds
the policy and the one way a call is made, and ``uploads`` the blob uploads (one PUT or a
resumable session). ``answers`` turns answers into documents (:mod:`mip.registry_api`) or errors;
``transport`` moves the bytes (``deadlines``, ``sendfile``, ``proxies`` are its parts);
``settings`` are the bounds; ``config`` says which registry and which credential belongs to which
origin.
"""
