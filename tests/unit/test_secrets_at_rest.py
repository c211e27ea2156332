from __future__ import annotations

import traceback

import pytest
from cryptography.fernet import Fernet
from hypothesis import given
from hypothesis import strategies as st

from bot.secrets_at_rest import (
    ENCRYPTION_KEY_ENV,
    EncryptionKeyError,
    UnreadableSecret,
    Vault,
    encryption_key_setting,
    generate_key,
)

OLD_KEY = generate_key()
NEW_KEY = generate_key()


@given(st.text())
def test_any_text_comes_back_as_it_went_in(text: str) -> None:
    vault = Vault.from_env_value(generate_key())
    token = vault.encrypt(text)
    assert vault.decrypt(token) == text
    assert vault.encrypt(text) != token  # a fresh IV each time: equal secrets do not look equal


def test_the_stored_form_does_not_contain_the_secret() -> None:
    vault = Vault.from_env_value(generate_key())
    secret = "xoxb-T0001-1-0123456789abcdef"
    token = vault.encrypt(secret)
    assert secret not in token and "xoxb" not in token and "T0001" not in token


@given(st.text(min_size=1))
def test_rotation_keeps_the_secret_and_moves_it_to_the_first_key(text: str) -> None:
    old = Vault.from_env_value(OLD_KEY)
    both = Vault.from_env_value(f"{NEW_KEY},{OLD_KEY}")
    stored = old.encrypt(text)
    assert not both.is_current(stored)
    rotated = both.rotate(stored)
    assert both.is_current(rotated)
    assert Vault.from_env_value(NEW_KEY).decrypt(rotated) == text
    with pytest.raises(UnreadableSecret):
        old.decrypt(rotated)


def test_the_first_key_encrypts_and_every_key_decrypts() -> None:
    both = Vault.from_env_value(f" {NEW_KEY} , {OLD_KEY} ,")
    assert both.key_count == 2
    assert both.decrypt(Vault.from_env_value(OLD_KEY).encrypt("xoxb-old")) == "xoxb-old"
    assert Vault.from_env_value(NEW_KEY).decrypt(both.encrypt("xoxb-new")) == "xoxb-new"
    with pytest.raises(UnreadableSecret):
        Vault.from_env_value(OLD_KEY).decrypt(both.encrypt("xoxb-new"))


def test_a_token_no_key_reads_is_refused_without_showing_it() -> None:
    vault = Vault.from_env_value(NEW_KEY)
    stranger = Vault.from_env_value(OLD_KEY).encrypt("xoxb-secret")
    for unreadable in (stranger, stranger[:-4] + "AAAA", "not a token", "", "é"):
        with pytest.raises(UnreadableSecret) as caught:
            vault.decrypt(unreadable)
        assert "xoxb" not in str(caught.value)
        assert caught.value.__cause__ is None and caught.value.__suppress_context__
    with pytest.raises(UnreadableSecret):
        vault.rotate(stranger)


@pytest.mark.parametrize(
    "value",
    [
        "",
        " , ",
        "not-a-key",
        "c2hvcnQ=",
        f"{NEW_KEY},bad-second-key",
        "é" * 44,
        Fernet.generate_key().decode()[:-2],
    ],
    # Fixed ids: two generated keys above, and parallel test workers must collect the same tests.
    ids=["empty", "blank-list", "not-a-key", "short", "bad-second", "not-ascii", "cut-short"],
)
def test_a_malformed_key_is_named_by_its_variable_never_shown(value: str) -> None:
    with pytest.raises(EncryptionKeyError) as caught:
        Vault.from_env_value(value)
    message = str(caught.value)
    assert ENCRYPTION_KEY_ENV in message
    for part in value.split(","):
        if part.strip():
            assert part.strip() not in message
            assert part.strip() not in "".join(traceback.format_exception(caught.value))


def test_the_error_says_which_key_is_malformed() -> None:
    with pytest.raises(EncryptionKeyError, match="key 2 "):
        Vault.from_env_value(f"{NEW_KEY},bad-second-key")


def test_a_generated_key_is_a_fernet_key() -> None:
    key = generate_key()
    assert len(key) == 44
    Fernet(key.encode())
    assert generate_key() != key


def test_the_setting_is_read_from_the_environment() -> None:
    assert encryption_key_setting({ENCRYPTION_KEY_ENV: NEW_KEY}) == NEW_KEY
    assert encryption_key_setting({ENCRYPTION_KEY_ENV: "  "}) is None
    assert encryption_key_setting({}) is None


def test_the_vault_does_not_show_its_keys() -> None:
    vault = Vault.from_env_value(f"{NEW_KEY},{OLD_KEY}")
    assert NEW_KEY not in repr(vault) and OLD_KEY not in repr(vault)
    assert repr(vault) == "Vault(2 keys)"
