#!/usr/bin/env python3
"""Verifies a Tessera access token with PyJWT, an independent implementation.

Usage: verify.py JWKS_URL TOKEN ISSUER AUDIENCE

Fetches the key named by the token's `kid` from the JWKS with
`jwt.PyJWKClient`, then verifies signature, issuer, audience, expiry and the
presence of the RFC 9068 claims with `jwt.decode`, with the algorithm fixed
by the published key (never by the token's header), and checks that the
header's `typ` is `at+jwt`. Prints OK and exits 0 when everything holds;
prints the reason to stderr and exits 1 otherwise (2 for bad usage).
"""

import sys

import jwt

ASYMMETRIC = ("EdDSA", "ES256", "RS256")
REQUIRED = ["exp", "iat", "iss", "aud", "sub", "jti"]


def fail(reason: str) -> int:
    print(f"FAIL: {reason}", file=sys.stderr)
    return 1


def main(argv: list[str]) -> int:
    if len(argv) != 5:
        print(__doc__, file=sys.stderr)
        return 2
    jwks_url, token, issuer, audience = argv[1:]

    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as e:
        return fail(f"header: {e}")
    if header.get("typ") != "at+jwt":
        return fail(f"header typ is {header.get('typ')!r}, expected 'at+jwt'")

    try:
        client = jwt.PyJWKClient(jwks_url, cache_keys=False)
        key = client.get_signing_key_from_jwt(token)
    except jwt.PyJWKClientError as e:
        return fail(f"key lookup: {e}")
    # The algorithm comes from the published key, never from the token.
    alg = key.algorithm_name
    if alg not in ASYMMETRIC:
        return fail(f"published key has alg {alg!r}")

    try:
        claims = jwt.decode(
            token,
            key.key,
            algorithms=[alg],
            issuer=issuer,
            audience=audience,
            options={"require": REQUIRED},
        )
    except jwt.InvalidTokenError as e:
        return fail(f"{type(e).__name__}: {e}")

    for name in ("client_id", "scope"):
        if not isinstance(claims.get(name), str):
            return fail(f"claim {name} missing or not a string")
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
