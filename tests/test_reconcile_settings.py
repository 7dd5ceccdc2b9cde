"""The `[reconcile]` table through downtime.config: the back-entry Bundles' identifier systems
and policy from `[reconcile.fhir]`, checked as absolute URIs; bad values are one line."""

from __future__ import annotations

import pytest

from downtime.config import ConfigError, load_config
from reconcile.fhir_codes import BundleSettings


def _config(tmp_path, fhir: str):
    (tmp_path / "downtime.toml").write_text(
        '[reconcile]\nfolder = "rec"\n[reconcile.fhir]\n' + fhir)
    return load_config(tmp_path / "downtime.toml")


def test_bundle_settings_come_from_the_reconcile_fhir_table(tmp_path):
    config = _config(tmp_path, 'policy = "https://intranet.example.org/policy/downtime"\n'
                               'downtime_mrn_system = "urn:oid:2.16.840.1.113883.3.999.1"\n')
    fhir = config.reconcile.fhir
    assert fhir.policy == "https://intranet.example.org/policy/downtime"
    assert fhir.downtime_mrn_system == "urn:oid:2.16.840.1.113883.3.999.1"
    assert fhir.entry_system == BundleSettings().entry_system  # unset: the toolkit's URN


def test_without_the_table_the_toolkit_urns(tmp_path):
    (tmp_path / "downtime.toml").write_text('[reconcile]\nfolder = "rec"\n')
    assert load_config(tmp_path / "downtime.toml").reconcile.fhir == BundleSettings()


@pytest.mark.parametrize(("line", "said"), [
    ('policy = "downtime policy"\n', "[reconcile.fhir] policy must be an absolute URI"),
    ('policy = "https://"\n', "[reconcile.fhir] policy must be an absolute URI"),
    ('page_system = 7\n', "[reconcile.fhir] page_system must be an absolute URI"),
    ('policy_url = "urn:x:y"\n', "unknown key(s) in [reconcile.fhir]: policy_url"),
])
def test_a_bad_value_is_one_line(tmp_path, line, said):
    with pytest.raises(ConfigError) as e:
        _config(tmp_path, line)
    assert said in str(e.value) and "\n" not in str(e.value)
