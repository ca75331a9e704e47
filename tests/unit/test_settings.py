"""Settings: the file's values, typed HOTLINE_* variables on top, overrides of
known keys only, and one-line messages naming the key."""

from __future__ import annotations

import pytest

from hotline.settings import DEFAULT_CONFIG, SettingsError, load_settings


def settings(environ: dict[str, str] | None = None, **overrides: object) -> dict[str, object]:
    return load_settings(overrides, path=DEFAULT_CONFIG, environ=environ or {})


def test_the_shipped_file_loads_as_written() -> None:
    loaded = settings()
    assert loaded["port"] == 5000
    assert loaded["scheduler_in_process"] is True
    assert loaded["case_prefix"] == "RY"


def test_variables_take_the_type_of_the_setting_they_override() -> None:
    loaded = settings(
        {
            "HOTLINE_PORT": "6000",
            "HOTLINE_SCHEDULER_IN_PROCESS": "Off",
            "HOTLINE_TWILIO_RECORD_CALLS": "yes",
            "HOTLINE_AREA_CODE": "0531",
            "HOTLINE_NOT_A_SETTING": "ignored",
        }
    )
    assert loaded["port"] == 6000
    assert loaded["scheduler_in_process"] is False
    assert loaded["twilio_record_calls"] is True
    assert loaded["area_code"] == "0531"
    assert "not_a_setting" not in loaded


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("HOTLINE_PORT", "50.5", "HOTLINE_PORT: expected a whole number, got '50.5'"),
        (
            "HOTLINE_SCHEDULER_IN_PROCESS",
            "maybe",
            "HOTLINE_SCHEDULER_IN_PROCESS: expected true or false, got 'maybe'",
        ),
    ],
)
def test_a_variable_of_the_wrong_type_is_refused_naming_it(
    variable: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError) as refused:
        settings({variable: value})
    assert str(refused.value) == message


def test_overrides_win_and_may_only_name_known_settings() -> None:
    assert settings(port=7000)["port"] == 7000
    with pytest.raises(SettingsError) as refused:
        settings(prot=7000)
    assert str(refused.value) == "unknown setting 'prot'"


@pytest.mark.parametrize("key", ["database_url", "company_name", "case_prefix", "timezone"])
def test_the_settings_every_process_needs_must_be_non_empty_texts(key: str) -> None:
    with pytest.raises(SettingsError) as refused:
        settings(**{key: ""})
    assert str(refused.value) == f"setting '{key}' must be a non-empty text"
