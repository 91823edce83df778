"""Settings: flags and OPEN_ROUTER_* variables, and a database password that is never shown."""
from __future__ import annotations

import pytest

LEAKY_DB = "postgresql://u:hunter2@127.0.0.1:1/x"


def test_settings_never_show_the_database_password() -> None:
    from gateway.settings import Settings, SettingsError, mask_url, scrub

    s = Settings(db=LEAKY_DB, admin_key="admin-secret")
    assert s.redacted()["db"] == "postgresql://u:***@127.0.0.1:1/x" and s.redacted()["admin_key"] == "<set>"
    assert "hunter2" not in repr(s) + str(s) and "admin-secret" not in repr(s)
    with pytest.raises(SettingsError) as info:
        Settings.load({"OPEN_ROUTER_DB": "postgres//u:hunter2@h/x"})
    assert "hunter2" not in str(info.value) and "OPEN_ROUTER_DB" in str(info.value)
    assert mask_url("sqlite:///open-router.db") == "sqlite:///open-router.db"
    assert mask_url("postgresql://u:p@ss@h/x") == "postgresql://u:***@h/x"  # an unescaped '@' in the password
    assert "zzzz" not in mask_url("postgresql://h/db?sslmode=require&password=zzzz")
    assert scrub(f"cannot connect to {LEAKY_DB} as u with hunter2", LEAKY_DB) \
        == "cannot connect to postgresql://u:***@127.0.0.1:1/x as u with ***"
