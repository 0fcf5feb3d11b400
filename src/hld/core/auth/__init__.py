"""Tokens and access control: JWT verification with pinned keys, and a rule engine.

``tokens`` verifies JWTs (signature through PyJWT's JWS layer with the key and algorithm
pinned per key id; claims checked here against a ``now`` the caller passes in).
``rules`` decides ACL, RBAC and ABAC policies over subject, resource, action and
environment attributes, indexing rules so a decision looks only at rules that can match.
"""
