"""Masking secret-looking values before they are shown or archived."""

from taskqueue.masking import MASK, mask_secrets


def test_values_under_secret_looking_keys_are_masked_at_any_depth():
    data = {
        "user": "ada",
        "Password": "hunter2",
        "nested": {"api_key": "k", "items": [{"Authorization": "Bearer x", "n": 1}]},
        "refresh_TOKEN": {"deep": "value"},
    }
    assert mask_secrets(data) == {
        "user": "ada",
        "Password": MASK,
        "nested": {"api_key": MASK, "items": [{"Authorization": MASK, "n": 1}]},
        "refresh_TOKEN": MASK,
    }


def test_the_input_is_not_changed_and_plain_values_pass_through():
    data = {"secret": "s"}
    mask_secrets(data)
    assert data == {"secret": "s"}
    assert mask_secrets(["a", 1, None]) == ["a", 1, None]
    assert mask_secrets("password") == "password"
