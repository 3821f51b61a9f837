"""The built-in user pool's parts on their own: TOTP (RFC 6238 vectors), scrypt hashing and the
password policy, config, sealing; and two instances sharing one PostgreSQL database."""

from __future__ import annotations

import asyncio

import pytest

from app.errors import ConfigError
from app.runtime import build
from app.settings import load_settings
from auth import totp
from auth.secretbox import SealError, SecretBox
from auth.userpool.config import default_client_id, parse_user_pool
from auth.userpool.passwords import PasswordPolicy, ScryptParams, hash_password, verify_password
from auth.userpool.pool import POOL_SEAL_LABEL
from tests.conftest import PG_URL, _reset_postgres
from tests.userpool_support import CLIENT_ID, password_auth, served_pool, sign_up_and_confirm

# RFC 6238 appendix B, SHA-1 rows: the 20-byte ASCII secret "12345678901234567890", 8-digit codes;
# our codes are the last 6 digits of the same HOTP value.
RFC_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
RFC_VECTORS = [(59, "94287082"), (1111111109, "07081804"), (1111111111, "14050471"), (1234567890, "89005924"),
               (2000000000, "69279037"), (20000000000, "65353130")]


@pytest.mark.parametrize(("at", "expected"), RFC_VECTORS)
def test_totp_codes_match_rfc_6238(at, expected):
    assert totp.totp(RFC_SECRET, at) == expected[-6:]


def test_a_totp_code_is_accepted_one_step_either_side_and_only_once():
    secret = totp.new_secret()
    now = 1_700_000_000.0
    code = totp.totp(secret, now)
    step = int(now // 30)
    assert totp.matching_step(secret, code, now, None) == step
    assert totp.matching_step(secret, code, now + 30, None) == step  # one step late
    assert totp.matching_step(secret, code, now - 30, None) == step  # one step early
    assert totp.matching_step(secret, code, now + 60, None) is None
    assert totp.matching_step(secret, code, now, last_used_step=step) is None
    assert totp.matching_step(secret, "12345", now, None) is None
    assert totp.matching_step(secret, "abcdef", now, None) is None


def test_passwords_are_hashed_with_memory_hard_defaults_and_a_salt():
    assert ScryptParams() == ScryptParams(n=2**15, r=8, p=1)
    assert 128 * ScryptParams().n * ScryptParams().r >= 32 * 1024 * 1024
    cheap = ScryptParams(n=1024)
    one, two = hash_password("Secret-Passw0rd!", cheap), hash_password("Secret-Passw0rd!", cheap)
    assert one != two and one.startswith("scrypt$1024$8$1$")
    assert verify_password("Secret-Passw0rd!", one)
    assert not verify_password("Secret-Passw0rd?", one)
    assert not verify_password("Secret-Passw0rd!", "garbage")


def test_the_default_policy_is_cognitos_and_generated_passwords_satisfy_it():
    policy = PasswordPolicy()
    assert policy.problem("Aa1!aaaa") is None
    assert policy.problem("Aa1!aaa") == "Password did not conform with policy: Password not long enough"
    assert all(policy.problem(policy.generate()) is None for _ in range(20))


def test_a_sealed_secret_opens_only_with_the_same_key_and_context():
    sealer = SecretBox.from_secret(b"instance secret", POOL_SEAL_LABEL)
    sealed = sealer.seal(b"totp secret", "sub-1")
    assert sealer.open(sealed, "sub-1") == b"totp secret"
    with pytest.raises(SealError):
        sealer.open(sealed, "sub-2")
    with pytest.raises(SealError):
        SecretBox.from_secret(b"another secret", POOL_SEAL_LABEL).open(sealed, "sub-1")


def test_pool_config_defaults_and_every_problem_reported_at_once():
    config = parse_user_pool({"region": "eu-central-1"}, host="127.0.0.1", port=8123, iam_account=None, where=None)
    assert config.pool_id == "eu-central-1_Trellis1"
    assert config.client_id == default_client_id("eu-central-1_Trellis1") and len(config.client_id) == 26
    assert config.issuer == "http://127.0.0.1:8123/eu-central-1_Trellis1"
    assert config.arn == "arn:aws:cognito-idp:eu-central-1:000000000000:userpool/eu-central-1_Trellis1"
    assert config.scrypt == ScryptParams()
    with pytest.raises(ConfigError) as caught:
        parse_user_pool({"mfa": "SMS", "scrypt_n": 1000, "region": "moon", "colour": "red"}, host="h", port=1,
                        iam_account=None, where="trellis.toml")
    messages = " | ".join(p.message for p in caught.value.problems)
    for fragment in ("unknown key 'colour'", "region 'moon'", "mfa must be one of", "power of two"):
        assert fragment in messages


def test_the_built_in_pool_serves_cognito_mode_beside_an_external_pool_and_needs_one_of_them(tmp_path):
    (tmp_path / "schema.graphql").write_text("type Query { a: String @aws_cognito_user_pools }")
    both = ('[auth]\ndefault = "AMAZON_COGNITO_USER_POOLS"\n[auth.user_pool]\nregion = "eu-west-1"\n'
            '[auth.cognito_user_pools]\nuser_pool_id = "eu-west-1_External1"\n')
    (tmp_path / "trellis.toml").write_text(both)
    runtime = build(load_settings(tmp_path / "schema.graphql", environ={}, data_dir=tmp_path / ".t"))
    issuers = [a.issuer for a in runtime.authenticator.authorizers]
    assert issuers == ["http://127.0.0.1:8000/eu-west-1_Trellis1",
                       "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_External1"]
    asyncio.run(runtime.close())
    (tmp_path / "trellis.toml").write_text('[auth]\ndefault = "AMAZON_COGNITO_USER_POOLS"\n')
    with pytest.raises(ConfigError) as caught:
        build(load_settings(tmp_path / "schema.graphql", environ={}, data_dir=tmp_path / ".t"))
    assert "needs an [auth.cognito_user_pools] table" in str(caught.value)


@pytest.mark.postgres
def test_two_instances_on_one_postgresql_database_share_users_keys_and_sign_outs(tmp_path):
    asyncio.run(_reset_postgres())
    lines = 'issuer_base = "https://auth.example.test"\n'
    with served_pool(tmp_path / "a", database_url=PG_URL, pool_lines=lines) as one, \
            served_pool(tmp_path / "b", database_url=PG_URL, pool_lines=lines) as two:
        assert one.runtime.user_pool.keys.kid == two.runtime.user_pool.keys.kid
        first, second = one.client(), two.client()
        sign_up_and_confirm(one, first, "shared-user")
        tokens = password_auth(second, "shared-user")["AuthenticationResult"]
        assert first.get_user(AccessToken=tokens["AccessToken"])["Username"] == "shared-user"
        refreshed = first.initiate_auth(ClientId=CLIENT_ID, AuthFlow="REFRESH_TOKEN_AUTH",
                                        AuthParameters={"REFRESH_TOKEN": tokens["RefreshToken"]})
        assert "AccessToken" in refreshed["AuthenticationResult"]
        second.global_sign_out(AccessToken=tokens["AccessToken"])
        with pytest.raises(first.exceptions.NotAuthorizedException):
            first.get_user(AccessToken=refreshed["AuthenticationResult"]["AccessToken"])
