"""Storage behind small interfaces: every read and write of the platform's buckets and streams.

``objects`` is the port (S3, or a dictionary in memory); the typed stores are built
on it: ``manifests``, ``artifacts``, ``events``, ``profiles``, ``results``, ``state``,
``references``, ``replay_claims``. ``capture`` (Firehose, with its dead-letter queue:
``dead_letters`` writes it, ``dead_letter_queue`` reads it back) and ``bus`` (EventBridge)
are the platform's two outgoing streams, each with an in-memory twin. ``aws`` creates the
boto3 clients. Jobs, serving and the metrics export reach storage
only through these.
"""
