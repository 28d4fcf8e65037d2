"""A whole session through a Python client generated from openapi/openapi.json
(openapi-python-client), against a running Portcullis: if the document says
something the service does not do, a generated client breaks here.

    python python_client_flow.py BASE_URL ADMIN_EMAIL ADMIN_PASSWORD
"""

import sys

from portcullis_client import AuthenticatedClient, Client
from portcullis_client.api.account import get_me
from portcullis_client.api.admin import list_events, list_users
from portcullis_client.api.auth import login_user, logout_session, refresh_token_pair, register_user
from portcullis_client.api.sessions import list_sessions
from portcullis_client.models import (
    AuthEvent,
    EventPage,
    LoginByEmail,
    LoginByUsername,
    LogoutRequest,
    Problem,
    ProblemCode,
    RefreshRequest,
    RegisterRequest,
    Session,
    TokenPair,
    User,
    UserPage,
)


def expect(value, kind):
    assert isinstance(value, kind), f"expected {kind.__name__}, got {value!r}"
    return value


def main(base_url: str, admin_email: str, admin_password: str) -> None:
    public = Client(base_url=base_url, raise_on_unexpected_status=True)
    password = "correct horse battery staple"

    user = expect(
        register_user.sync(
            client=public,
            body=RegisterRequest(username="pyuser", email="pyuser@example.com", password=password),
        ),
        User,
    )
    assert user.mfa.totp is False

    wrong = expect(
        login_user.sync(client=public, body=LoginByEmail(password="not the password", email="pyuser@example.com")),
        Problem,
    )
    assert wrong.code == ProblemCode.INVALID_CREDENTIALS, wrong.code

    pair = expect(
        login_user.sync(client=public, body=LoginByUsername(password=password, username="pyuser", remember=True)),
        TokenPair,
    )
    assert pair.token_type == "Bearer" and pair.refresh_token
    authed = AuthenticatedClient(base_url=base_url, token=pair.access_token, raise_on_unexpected_status=True)
    me = expect(get_me.sync(client=authed), User)
    assert me.username == "pyuser"
    sessions = list_sessions.sync(client=authed)
    assert sessions and all(isinstance(session, Session) for session in sessions)
    assert sessions[0].current is True

    renewed = expect(refresh_token_pair.sync(client=public, body=RefreshRequest(refresh_token=pair.refresh_token)), TokenPair)
    authed = AuthenticatedClient(base_url=base_url, token=renewed.access_token, raise_on_unexpected_status=True)

    # Logout without a body (the optional body must not be sent as null).
    logout_session.sync_detailed(client=authed)
    after = expect(get_me.sync(client=authed), Problem)
    assert after.code == ProblemCode.INVALID_TOKEN, after.code

    admin_pair = expect(
        login_user.sync(client=public, body=LoginByEmail(password=admin_password, email=admin_email)), TokenPair
    )
    admin = AuthenticatedClient(base_url=base_url, token=admin_pair.access_token, raise_on_unexpected_status=True)
    page = expect(list_users.sync(client=admin, q="pyuser"), UserPage)
    assert page.total == 1 and page.items[0].username == "pyuser"
    assert page.items[0].last_login_at is not None
    events = expect(list_events.sync(client=admin, user_id=page.items[0].id), EventPage)
    assert events.items and all(isinstance(event, AuthEvent) for event in events.items)
    assert any("session_id" in event.detail.additional_properties for event in events.items)
    logout_session.sync_detailed(client=admin, body=LogoutRequest(all_=True))
    print("python client flow: ok")


if __name__ == "__main__":
    main(*sys.argv[1:4])
