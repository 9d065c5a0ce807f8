"""Who is calling, and what they may see.

A request's ``Authorization: Bearer`` JWT becomes a ``Principal`` (tier, region, roles, departments), and the policy
turns that principal into the request's ``Access``. One module per concept:

- ``config``: trusted issuers, claim names and the anonymous policy (``AuthConfig``, ``load_auth_config``);
- ``keys``: where an issuer's verification keys come from (JWKS file, inline, URL with rotation; HS256 secret);
- ``tokens``: a token read once, its signature and registered claims (exp, nbf, iat, iss, aud) checked;
- ``authenticator``: ``Authenticator``, header → ``Principal``, remembering verified tokens until they expire;
- ``claims``: claim mapping, verified claims → ``Principal``;
- ``principal``: ``Principal``, tiers, roles and region scopes;
- ``policy``: ``Policy`` and ``Access``, region scope, public data and personal-data fields;
- ``demo``: the committed demo issuer and ``yiwang token``.
"""
