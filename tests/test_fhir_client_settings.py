"""The [source] table and the client's own rules that need no server: what a URL may be,
what `_since` is sent as, what Retry-After means. (The client against a real FHIR server:
tests/test_fhir_client.py, with the sandbox.)"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import httpx
import pytest

from downtime.config import ConfigError, load_config
from snapshots.fhir_client import ClientSettings, SourceSettingsError, utc_instant
from snapshots.fhir_client.client import retry_after
from snapshots.fhir_client.settings import check_url


def config(tmp_path: Path, text: str):
    path = tmp_path / "downtime.toml"
    path.write_text(text)
    return load_config(path)


def test_the_source_table_is_typed_and_its_paths_resolved(tmp_path):
    loaded = config(tmp_path, '[source]\nurl = "https://ehr.example.org/fhir/R4/"\n'
                              'mode = "search"\nauth = "smart"\nclient_id = "downtime"\n'
                              'private_key = "keys/ehr.pem"\nca_bundle = "ca/hospital.pem"\n'
                              'types = "Patient, Encounter"\nretries = 0\n')
    source = loaded.source
    assert source.base_url == "https://ehr.example.org/fhir/R4" and source.mode == "search"
    assert source.auth.private_key == tmp_path / "keys" / "ehr.pem"
    assert source.tls.ca_bundle == tmp_path / "ca" / "hospital.pem"
    assert source.types == ("Patient", "Encounter") and source.retries == 0
    assert load_config(None).source == ClientSettings()


@pytest.mark.parametrize("text,says", [
    ('url = "http://ehr.example.org/fhir"', "plain http to another host"),
    ('url = "ftp://ehr"', "is not an http(s) URL"),
    ('mode = "pull"', '[source] mode must be "bulk" or "search"'),
    ('export_level = "group"', 'export_level "group" needs group_id'),
    ('auth = "bearer"', "needs token_file or token_env (the token itself never goes in the "
                        "config)"),
    ('auth = "smart"\nclient_id = "x"', 'auth "smart" needs client_id and private_key'),
    ("retries = -1", "[source] retries must be a whole number, 0 or more"),
    ("timeout_seconds = true", "[source] timeout_seconds must be a number"),
    ('token = "secret"', "unknown key(s) in [source]: token"),
])
def test_a_bad_source_table_is_one_line_naming_the_file_and_key(tmp_path, text, says):
    with pytest.raises(ConfigError) as err:
        config(tmp_path, f"[source]\n{text}\n")
    assert says in str(err.value) and str(tmp_path / "downtime.toml") in str(err.value)


def test_only_loopback_may_be_plain_http():
    for url in ("http://127.0.0.1:8080/fhir", "http://localhost/fhir", "https://ehr.org/fhir"):
        check_url(url, "test")
    with pytest.raises(SourceSettingsError, match="unencrypted"):
        check_url("http://10.0.0.5/fhir", "test")


def test_since_is_always_a_utc_instant_ending_in_z():
    assert utc_instant("2026-12-04T10:15:00+02:00") == "2026-12-04T08:15:00.000Z"
    assert utc_instant(datetime(2026, 12, 4, 8, 15, tzinfo=UTC)) == "2026-12-04T08:15:00.000Z"
    assert utc_instant(datetime(2026, 12, 4, 8, 15, tzinfo=timezone(timedelta(hours=-5)))) \
        == "2026-12-04T13:15:00.000Z"
    with pytest.raises(ValueError, match="not an ISO 8601 instant"):
        utc_instant("yesterday")


def test_retry_after_in_seconds_or_as_a_date():
    def answer(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value},
                              request=httpx.Request("GET", "https://ehr.example.org/fhir"))

    assert retry_after(answer("7")) == 7.0
    later = (datetime.now(UTC) + timedelta(seconds=30)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert 25 <= retry_after(answer(later)) <= 31
    assert retry_after(answer("soon")) is None
