"""The local stack: the same app and handlers on one machine, AWS faked by moto_server."""
