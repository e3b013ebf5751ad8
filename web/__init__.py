"""``duban serve``: the web portal for the people of the office and the HTTP API.

Both are clients of the engine's service, like the CLI: routes read the request, call one
service method as the signed-in person, and render what comes back; every rule, permission
and audit event is the engine's.
"""
