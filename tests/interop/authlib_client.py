"""A confidential client signing a user in through Portcullis with authlib.

authlib (https://authlib.org) builds the authorization URL (state, nonce,
PKCE S256), exchanges the code with client_secret_basic, verifies the ID
token against the JWKS, and refreshes, introspects and revokes. The user's
side (the login page) is the JSON API: the harness gives us an access token
of a logged-in user, and we accept the request with it as the built-in page
would.

Environment: ISSUER, CLIENT_ID, CLIENT_SECRET, REDIRECT_URI, USER_TOKEN,
USER_ID. Exits non-zero (an assertion) on any departure.
"""

import json
import os
import secrets
import sys
from urllib.parse import parse_qs, urlparse

import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt
from authlib.oidc.core import CodeIDToken

issuer = os.environ["ISSUER"]
client_id = os.environ["CLIENT_ID"]
client_secret = os.environ["CLIENT_SECRET"]
redirect_uri = os.environ["REDIRECT_URI"]
user_token = os.environ["USER_TOKEN"]
user_id = os.environ["USER_ID"]

metadata = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
assert metadata["issuer"] == issuer, metadata

session = OAuth2Session(
    client_id,
    client_secret,
    scope="openid email profile",
    redirect_uri=redirect_uri,
    code_challenge_method="S256",
    token_endpoint_auth_method="client_secret_basic",
)
code_verifier = secrets.token_urlsafe(48)
nonce = secrets.token_urlsafe(16)
url, state = session.create_authorization_url(
    metadata["authorization_endpoint"], nonce=nonce, code_verifier=code_verifier
)

# The browser: to the login page, which accepts with the user's session.
to_login = requests.get(url, allow_redirects=False, timeout=10)
assert to_login.status_code == 303, to_login.text
request_id = parse_qs(urlparse(to_login.headers["location"]).query)["request_id"][0]
shown = requests.get(f"{issuer}/oauth2/requests/{request_id}", timeout=10).json()
assert shown["scopes"] == ["email", "openid", "profile"], shown
accepted = requests.post(
    f"{issuer}/oauth2/requests/{request_id}/accept",
    headers={"Authorization": f"Bearer {user_token}"},
    json={"consent": True},
    timeout=10,
)
assert accepted.status_code == 200, accepted.text
callback = accepted.json()["redirect_to"]
assert parse_qs(urlparse(callback).query)["iss"] == [issuer]

token = session.fetch_token(
    metadata["token_endpoint"],
    authorization_response=callback,
    state=state,
    code_verifier=code_verifier,
)
assert token["token_type"] == "Bearer", token

jwks = JsonWebKey.import_key_set(requests.get(metadata["jwks_uri"], timeout=10).json())
claims = jwt.decode(
    token["id_token"],
    jwks,
    claims_cls=CodeIDToken,
    claims_options={"iss": {"essential": True, "value": issuer}, "aud": {"essential": True, "value": client_id}},
    claims_params={"nonce": nonce, "client_id": client_id},
)
claims.validate()
assert claims["sub"] == user_id, claims
assert claims["nonce"] == nonce

userinfo = session.get(metadata["userinfo_endpoint"]).json()
assert userinfo["sub"] == user_id and "email" in userinfo, userinfo

refreshed = session.refresh_token(metadata["token_endpoint"], refresh_token=token["refresh_token"])
assert refreshed["refresh_token"] != token["refresh_token"]

introspection = requests.post(
    metadata["introspection_endpoint"],
    auth=(client_id, client_secret),
    data={"token": refreshed["access_token"]},
    timeout=10,
).json()
assert introspection["active"] is True and introspection["sub"] == user_id, introspection

session.revoke_token(metadata["revocation_endpoint"], token=refreshed["refresh_token"])
after = requests.post(
    metadata["introspection_endpoint"],
    auth=(client_id, client_secret),
    data={"token": refreshed["access_token"]},
    timeout=10,
).json()
assert after == {"active": False}, after

# client_credentials, as a service would.
service = OAuth2Session(client_id, client_secret, token_endpoint_auth_method="client_secret_post")
own = service.fetch_token(metadata["token_endpoint"], grant_type="client_credentials")
assert "refresh_token" not in own and own["scope"] == "api:read", own

json.dump({"sub": claims["sub"], "amr": claims["amr"]}, sys.stdout)
