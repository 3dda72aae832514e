"""The portal starts, serves the login page and lets each role in."""
import pytest

from tests.factories import ROLES


def test_login_page_is_served(client):
    response = client.get("/login")
    assert response.status_code == 200
    assert "Sign in to Kliniki" in response.get_data(as_text=True)


@pytest.mark.parametrize("role", ROLES)
def test_each_role_signs_in_and_lands_on_its_page(login_as, role):
    client = login_as(role)
    page = client.get("/", follow_redirects=True)
    assert page.status_code == 200
    assert f'data-role="{role}"' in page.get_data(as_text=True)
