"""Every registered route, for every role and for an anonymous user, is allowed or refused as declared."""
from __future__ import annotations

from portal.auth.access import PUBLIC, allowed_roles, roles
from tests.helpers import ROLES, SKIPPED_METHODS, add_route, csrf_from, dummy_url, login

ANONYMOUS = "anonymous"
# Routes that end the session they are sent with (server-side): each gets a session of its own.
SESSION_ENDING = {"auth.logout", "auth.sign_out_everywhere"}


def signed_cookie_and_token(app, role: str | None) -> tuple[str | None, str]:
    """A session cookie (signed in as role, or anonymous) and its CSRF token, via the real login."""
    client = app.test_client()
    if role is not None:
        response = login(client, f"{role}1")
        assert response.status_code == 302, response.get_data(as_text=True)
        page = client.get(response.headers["Location"])
    else:
        page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    cookie = client.get_cookie(app.config["SESSION_COOKIE_NAME"])
    return (cookie.value if cookie else None), token


def is_login_redirect(response) -> bool:
    """The access check's answer to a signed-out user (a view's own redirect to login has no next=)."""
    return response.status_code in (301, 302, 303) and \
        response.headers.get("Location", "").startswith("/login?next=")


def walk(app):
    """(endpoint, method, url) for every registered route."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        for method in sorted(rule.methods - SKIPPED_METHODS):
            yield rule.endpoint, method, dummy_url(app, rule)


def test_every_endpoint_declares_who_may_use_it(app):
    with app.app_context():
        undeclared = sorted({rule.endpoint for rule in app.url_map.iter_rules()
                             if allowed_roles(rule.endpoint) is None})
    assert undeclared == [], f"declare access with @roles/@any_staff/@public: {undeclared}"


def test_every_route_for_every_role_and_anonymous(app, staff):
    sessions = {principal: signed_cookie_and_token(app, None if principal == ANONYMOUS else principal)
                for principal in (ANONYMOUS, *ROLES)}
    routes = list(walk(app))
    assert len(routes) >= 10
    problems, server_errors = [], []
    for endpoint, method, url in routes:
        with app.app_context():
            allowed = allowed_roles(endpoint)
        for principal, (cookie, token) in sessions.items():
            for htmx in (False, True):
                if endpoint in SESSION_ENDING and principal != ANONYMOUS and method == "POST":
                    cookie, token = signed_cookie_and_token(app, principal)  # this one really ends it
                client = app.test_client()
                if cookie:
                    client.set_cookie(app.config["SESSION_COOKIE_NAME"], cookie)
                headers = {"X-CSRFToken": token}
                if htmx:
                    headers.update({"HX-Request": "true", "HX-Current-URL": "http://localhost/schedule/"})
                response = client.open(url, method=method, headers=headers)
                label = f"{principal} {method} {url} ({endpoint}{', htmx' if htmx else ''})"
                body = response.get_data(as_text=True)
                if response.status_code >= 500:
                    server_errors.append(f"{label}: {response.status_code}")
                elif allowed is PUBLIC or (principal != ANONYMOUS and principal in allowed):
                    if response.status_code in (401, 403) or is_login_redirect(response):
                        problems.append(f"{label}: refused ({response.status_code}) but declared open")
                elif principal == ANONYMOUS:
                    if htmx:
                        if response.status_code != 401 or \
                                not response.headers.get("HX-Redirect", "").startswith("/login?next="):
                            problems.append(f"{label}: expected 401 + HX-Redirect, got {response.status_code}")
                    elif not is_login_redirect(response):
                        problems.append(f"{label}: expected a redirect to login, got {response.status_code}")
                else:
                    if response.status_code != 403:
                        problems.append(f"{label}: expected 403, got {response.status_code}")
                    elif htmx and 'role="alert"' not in body:
                        problems.append(f"{label}: 403 for htmx is not the alert fragment")
                    elif not htmx and not ('data-status="403"' in body and f'data-role="{principal}"' in body):
                        problems.append(f"{label}: 403 page is not in the layout with the role's navigation")
        if endpoint in SESSION_ENDING:  # signing out everywhere ended the shared sessions too
            sessions = {principal: signed_cookie_and_token(app, None if principal == ANONYMOUS else principal)
                        for principal in sessions}
    assert problems == [], "\n".join(problems)
    assert server_errors == [], "a 500 is a bug:\n" + "\n".join(server_errors)


def test_an_undeclared_view_is_refused_to_everyone(make_app, staff, caplog):
    app = make_app()

    def forgotten():
        return "should never be seen"
    app.add_url_rule("/_test/forgotten", "forgotten", forgotten)
    add_route(app, "/_test/declared", lambda: "ok", access=roles("nurse"))
    client = app.test_client()
    assert client.get("/_test/forgotten").status_code == 403
    login(client, "admin1")
    response = client.get("/_test/forgotten")
    assert response.status_code == 403 and "should never be seen" not in response.get_data(as_text=True)
    assert "declares no access" in caplog.text
    assert client.get("/_test/declared").status_code == 403


def test_anonymous_htmx_request_is_sent_back_to_the_page_it_came_from(client):
    response = client.get("/admin/staff", headers={
        "HX-Request": "true", "HX-Current-URL": "http://localhost/admin/staff?after=bob"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/admin/staff?after%3Dbob"
    page = client.get("/admin/staff?after=bob")
    assert page.status_code == 302 and page.headers["Location"] == "/login?next=/admin/staff?after%3Dbob"


def test_anonymous_form_post_goes_to_login_and_back_to_the_form_page(client):
    response = client.post("/admin/staff", data={"username": "x"},
                           headers={"Referer": "http://localhost/admin/staff?after=a"})
    assert response.status_code == 302 and response.headers["Location"] == "/login?next=/admin/staff?after%3Da"
    elsewhere = client.post("/admin/staff", headers={"Referer": "https://evil.example/admin/staff"})
    assert elsewhere.headers["Location"] == "/login?next=/"
