"""The contract between the toolkit and `downtime sandbox`: exactly what the toolkit's FHIR
client relies on, asked of a running sandbox (sekmet-fhir, pinned, behind the toolkit's
layer) over loopback, loaded with a generated hospital. A sekmet upgrade that changes any of
it fails here (docs/sandbox.md)."""

from __future__ import annotations

import gzip
import json
import time
import uuid
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class

from downtime.generator import generate
from downtime.sandbox import start_sandbox

AS_OF = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)
ASYNC = {"Prefer": "respond-async", "Accept": "application/fhir+json"}
FHIR = {"Content-Type": "application/fhir+json"}


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sandbox")
    generate(folder / "hospital", patients=12, seed=5, as_of=AS_OF)
    with start_sandbox(folder / "data", load=folder / "hospital") as running:
        yield running


@pytest.fixture(scope="module")
def http(sandbox):
    with httpx.Client(base_url=sandbox.base_url, timeout=30,
                      headers={"Accept": "application/fhir+json"}) as client:
        yield client


def next_link(bundle: dict) -> str | None:
    return next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"),
                None)


def export(http: httpx.Client, path: str, **params: str) -> tuple[str, dict, list[httpx.Response]]:
    """Kick off, poll as a client would; the status URL, the manifest, the 202 answers."""
    kick = http.get(path, params=params, headers=ASYNC)
    assert kick.status_code == 202, kick.text
    status_url = kick.headers["Content-Location"]
    assert status_url.startswith("http://127.0.0.1:")
    waiting = []
    for _ in range(200):
        answer = http.get(status_url)
        if answer.status_code != 202:
            assert answer.status_code == 200, answer.text
            return status_url, answer.json(), waiting
        waiting.append(answer)
        time.sleep(0.05)
    raise AssertionError("the export never finished")


def lines(http: httpx.Client, url: str) -> list[dict]:
    answer = http.get(url, headers={"Accept": "application/fhir+ndjson"})
    assert answer.status_code == 200
    return [json.loads(line) for line in answer.text.splitlines() if line.strip()]


# --- REST ---------------------------------------------------------------------------------------

def test_read_with_etag_unknown_404_deleted_410(http):
    answer = http.get("Patient/pat-000001")
    assert answer.status_code == 200
    assert answer.json()["id"] == "pat-000001"
    assert answer.headers["ETag"] == 'W/"1"'
    assert http.get("Patient/no-such-patient").status_code == 404
    http.put("Patient/gone-1", json={"resourceType": "Patient", "id": "gone-1"}, headers=FHIR)
    assert http.delete("Patient/gone-1").status_code == 200
    assert http.get("Patient/gone-1").status_code == 410


def test_paging_follows_next_links_to_every_match_once(http):
    total = http.get("Encounter", params={"_summary": "count"}).json()["total"]
    ids, url, pages = [], "Encounter?_count=7", 0
    while url:
        page = http.get(url).json()
        ids += [e["resource"]["id"] for e in page.get("entry", [])]
        url, pages = next_link(page), pages + 1
    assert pages == -(-total // 7) and pages > 2
    assert len(ids) == len(set(ids)) == total


def test_include_patient_and_location_on_encounters(http):
    page = http.get("Encounter", params=[
        ("status", "in-progress"), ("_include", "Encounter:patient"),
        ("_include", "Encounter:location"), ("_count", "100")]).json()
    matches = [e["resource"] for e in page["entry"] if e["search"]["mode"] == "match"]
    included = {f"{e['resource']['resourceType']}/{e['resource']['id']}"
                for e in page["entry"] if e["search"]["mode"] == "include"}
    assert len(matches) >= 12
    for enc in matches:
        patient = enc["subject"]["reference"].split("/fhir/")[-1]
        assert patient in included
        for loc in enc.get("location", []):
            assert loc["location"]["reference"] in included


def test_last_updated_finds_only_what_changed_since(http):
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    time.sleep(0.02)
    stamp = before.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    assert http.get("Flag", params={"_lastUpdated": f"gt{stamp}"}).json().get("total") == 0
    flag = http.get("Flag", params={"_count": "1"}).json()["entry"][0]["resource"]
    flag["status"] = "inactive"
    assert http.put(f"Flag/{flag['id']}", json=flag, headers=FHIR).status_code == 200
    found = http.get("Flag", params={"_lastUpdated": f"gt{stamp}"}).json()
    assert [e["resource"]["id"] for e in found["entry"]] == [flag["id"]]


def test_patient_list_search_is_the_union_of_each(http):
    patients = ["pat-000001", "pat-000002", "pat-000004"]
    each = {p: http.get("Condition", params={"patient": p, "_count": "500"}).json()["total"]
            for p in patients}
    both = http.get("Condition", params={"patient": ",".join(patients), "_count": "500"}).json()
    subjects = {e["resource"]["subject"]["reference"].rsplit("/", 1)[-1]
                for e in both["entry"]}
    assert subjects == set(patients)
    assert both["total"] == sum(each.values()) > 3


def _form_bundle(tag: str) -> dict:
    """A back-entered vitals line as reconciliation sends it: conditional create by an
    identifier made from the form id and line, with a Provenance."""
    obs = {"resourceType": "Observation", "status": "final",
           "identifier": [{"system": "urn:downtime:form-line", "value": f"{tag}-1"}],
           "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
           "subject": {"reference": "Patient/pat-000001"},
           "effectiveDateTime": "2026-12-04T07:00:00Z",
           "valueQuantity": {"value": 88, "unit": "/min"}}
    prov = {"resourceType": "Provenance", "target": [{"reference": "urn:uuid:" + tag}],
            "recorded": "2026-12-04T09:00:00Z",
            "agent": [{"who": {"display": "clerk"}}]}
    return {"resourceType": "Bundle", "type": "transaction", "entry": [
        {"fullUrl": f"urn:uuid:{tag}", "resource": obs,
         "request": {"method": "POST", "url": "Observation",
                     "ifNoneExist": f"identifier=urn:downtime:form-line|{tag}-1"}},
        {"resource": prov, "request": {"method": "POST", "url": "Provenance"}}]}


def test_transaction_with_if_none_exist_twice_creates_nothing_twice(http):
    tag = str(uuid.uuid4())
    first = http.post("", json=_form_bundle(tag), headers=FHIR)
    assert first.status_code == 200 and first.json()["type"] == "transaction-response"
    statuses = [e["response"]["status"] for e in first.json()["entry"]]
    assert statuses == ["201 Created", "201 Created"]
    made = first.json()["entry"][0]["response"]["location"]
    assert first.json()["entry"][1]["resource"]["target"][0]["reference"] == \
        made.split("/_history")[0].split("/fhir/")[-1]  # urn:uuid rewritten
    second = http.post("", json=_form_bundle(tag), headers=FHIR).json()
    assert second["entry"][0]["response"]["status"] == "200 OK"
    assert second["entry"][0]["response"]["location"].split("/_history")[0] == \
        made.split("/_history")[0]
    found = http.get("Observation", params={"identifier": f"urn:downtime:form-line|{tag}-1"})
    assert found.json()["total"] == 1


def test_transaction_is_all_or_nothing(http):
    tag = str(uuid.uuid4())
    bundle = _form_bundle(tag)
    bundle["entry"].append({"resource": {"resourceType": "Observation", "bogus": 1},
                            "request": {"method": "POST", "url": "Observation"}})
    refused = http.post("", json=bundle, headers=FHIR)
    assert refused.status_code == 400
    assert refused.json()["resourceType"] == "OperationOutcome"
    found = http.get("Observation", params={"identifier": f"urn:downtime:form-line|{tag}-1"})
    assert found.json()["total"] == 0


def test_batch_entries_succeed_or_fail_each_on_its_own(http):
    bundle = {"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient/pat-000002"}},
        {"resource": {"resourceType": "Observation", "bogus": 1},
         "request": {"method": "POST", "url": "Observation"}},
        {"request": {"method": "GET", "url": "Patient/no-such-one"}}]}
    answer = http.post("", json=bundle, headers=FHIR).json()
    assert answer["type"] == "batch-response"
    codes = [e["response"]["status"].split()[0] for e in answer["entry"]]
    assert codes[0] == "200" and codes[1] == "400" and codes[2] == "404"
    assert answer["entry"][1]["response"]["outcome"]["resourceType"] == "OperationOutcome"


def test_unknown_search_parameter_refused_when_strict(http):
    strict = http.get("Encounter", params={"no-such-param": "x"},
                      headers={"Prefer": "handling=strict"})
    assert strict.status_code == 400


def test_sekmets_simulator_and_traffic_log_are_off(http, sandbox):
    """sekmet would answer an order with a dispense of its own (after the simulator's delay,
    here export_seconds), and keep every request and body in its database: neither may
    happen behind the toolkit's back."""
    order = {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
             "medicationCodeableConcept": {"text": "Paracetamol 1 g"},
             "subject": {"reference": "Patient/pat-000001"}}
    assert http.post("MedicationRequest", json=order, headers=FHIR).status_code == 201
    before = sandbox.counts()
    time.sleep(1.0)
    assert sandbox.counts() == before
    assert sandbox.store.query("SELECT COUNT(*) FROM traffic")[0][0] == 0


# --- Bulk Data ----------------------------------------------------------------------------------

def test_system_export_polls_then_manifest_files_and_delete(http, sandbox):
    status_url, manifest, waiting = export(http, "$export")
    assert waiting, "a client meets at least one 202 (export_seconds)"
    assert waiting[0].headers["Retry-After"] == "1"
    assert waiting[0].headers["X-Progress"] in ("queued", "collecting", "writing")
    assert set(manifest) >= {"transactionTime", "request", "requiresAccessToken", "output",
                             "error"}
    assert manifest["requiresAccessToken"] is False
    assert "deleted" not in manifest  # only a _since export has deletions
    counts = {o["type"]: o["count"] for o in manifest["output"]}
    assert counts["Patient"] == sandbox.counts()["Patient"]
    assert "Basic" not in counts  # sekmet's subscription topics
    for item in manifest["output"]:
        assert len(lines(http, item["url"])) == item["count"]
    assert http.delete(status_url).status_code == 202
    assert http.get(status_url).status_code == 404
    assert http.get(manifest["output"][0]["url"]).status_code == 404


def test_type_filter_and_patient_and_group_levels(http):
    _, manifest, _ = export(http, "Patient/$export", _type="Patient,AllergyIntolerance")
    assert {o["type"] for o in manifest["output"]} == {"Patient", "AllergyIntolerance"}
    group = {"resourceType": "Group", "id": "unit-4w-now", "type": "person", "actual": True,
             "member": [{"entity": {"reference": "Patient/pat-000001"}},
                        {"entity": {"reference": "Patient/pat-000002"}}]}
    http.put("Group/unit-4w-now", json=group, headers=FHIR)
    _, manifest, _ = export(http, "Group/unit-4w-now/$export", _type="Patient,Encounter")
    patients = next(o for o in manifest["output"] if o["type"] == "Patient")
    assert sorted(p["id"] for p in lines(http, patients["url"])) == ["pat-000001",
                                                                      "pat-000002"]
    assert http.get("Group/nope/$export", headers=ASYNC).status_code == 404


def test_since_export_has_changes_and_deleted_from_history(http):
    _, first, _ = export(http, "$export", _type="Observation,Patient,Condition")
    since = first["transactionTime"]
    time.sleep(0.01)
    victim = http.get("Observation", params={"patient": "pat-000003", "_count": "1"}).json()
    victim_id = victim["entry"][0]["resource"]["id"]
    http.delete(f"Observation/{victim_id}")
    http.put("Patient/temp-9", json={"resourceType": "Patient", "id": "temp-9"}, headers=FHIR)
    http.delete("Patient/temp-9")  # made and deleted since: listed (harmless)
    http.put("Condition/back-1", json={"resourceType": "Condition", "id": "back-1",
                                       "subject": {"reference": "Patient/pat-000004"}},
             headers=FHIR)
    http.delete("Condition/back-1")
    http.put("Condition/back-1", json={"resourceType": "Condition", "id": "back-1",
                                       "subject": {"reference": "Patient/pat-000004"}},
             headers=FHIR)  # back again: its state is in output, not deleted
    _, delta, _ = export(http, "$export", _type="Observation,Patient,Condition", _since=since)
    assert {o["type"]: o["count"] for o in delta["output"]} == {"Condition": 1}
    assert [d["type"] for d in delta["deleted"]] == ["Bundle"]
    bundles = lines(http, delta["deleted"][0]["url"])
    for bundle in bundles:
        get_fhir_model_class("Bundle").model_validate(bundle)
        assert bundle["type"] == "transaction"
    refs = [e["request"]["url"] for b in bundles for e in b["entry"]
            if e["request"]["method"] == "DELETE"]
    assert refs == [f"Observation/{victim_id}", "Patient/temp-9"]
    assert delta["deleted"][0]["count"] == 2

    _, only_obs, _ = export(http, "$export", _type="Condition", _since=since)
    assert only_obs["deleted"] == []  # _type narrows deletions too
    http.put("Group/g-three", json={"resourceType": "Group", "id": "g-three", "type": "person",
                                    "actual": True,
                                    "member": [{"entity": {"reference": "Patient/pat-000003"}}]},
             headers=FHIR)
    _, group, _ = export(http, "Group/g-three/$export", _since=since)
    refs = [e["request"]["url"] for b in lines(http, group["deleted"][0]["url"])
            for e in b["entry"]]
    assert refs == [f"Observation/{victim_id}"]  # temp-9 is not a member
    _, patients, _ = export(http, "Patient/$export", _type="Observation,Patient", _since=since)
    refs = [e["request"]["url"] for b in lines(http, patients["deleted"][0]["url"])
            for e in b["entry"]]
    assert refs == [f"Observation/{victim_id}", "Patient/temp-9"]


def test_since_with_an_offset_means_the_same_instant_and_garbage_is_refused(http):
    _, first, _ = export(http, "$export", _type="Flag")
    since = datetime.fromisoformat(first["transactionTime"].replace("Z", "+00:00"))
    time.sleep(0.01)
    flag = http.get("Flag", params={"_count": "1"}).json()["entry"][0]["resource"]
    http.put(f"Flag/{flag['id']}", json=flag, headers=FHIR)
    offset = since.astimezone(timezone(timedelta(hours=2))).isoformat()
    _, delta, _ = export(http, "$export", _type="Flag", _since=offset)
    assert [o["count"] for o in delta["output"]] == [1]
    bad = http.get("$export", params={"_since": "not-a-date"}, headers=ASYNC)
    assert bad.status_code == 400


def test_export_files_gzip_when_asked(http):
    _, manifest, _ = export(http, "$export", _type="Practitioner")
    url = manifest["output"][0]["url"]
    plain = http.get(url, headers={"Accept-Encoding": "identity"})
    zipped = http.get(url, headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in plain.headers
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.content == plain.content  # httpx undoes the gzip
    with httpx.stream("GET", url, headers={"Accept-Encoding": "gzip"}) as answer:
        raw = b"".join(answer.iter_raw())
    assert gzip.decompress(raw) == plain.content and len(raw) < len(plain.content)


# --- faults, through the admin endpoint ------------------------------------------------------

@pytest.fixture
def admin(sandbox):
    with httpx.Client(base_url=sandbox.admin_url, timeout=30) as client:
        yield client
        client.delete("/faults")


def test_slow_delays_only_what_it_matches(http, admin):
    assert admin.put("/faults/slow", json={"seconds": 0.4, "match": "/Patient"}).status_code == 200
    started = time.perf_counter()
    assert http.get("Patient/pat-000001").status_code == 200
    assert time.perf_counter() - started >= 0.4
    assert http.get("Location", params={"_count": "1"}).status_code == 200
    faults = admin.get("/status").json()["faults"]
    assert faults == [{"kind": "slow", "seconds": 0.4, "match": "/Patient", "share": 1.0,
                       "times": 0, "hits": 1}]


def test_5xx_share_is_every_other_request_with_a_transient_outcome(http, admin):
    admin.put("/faults/5xx", json={"share": 0.5, "status": 502})
    answers = [http.get("Patient/pat-000001") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 502, 200, 502]
    assert answers[1].json()["issue"][0]["code"] == "transient"


def test_429_says_retry_after_and_clears_itself_after_times(http, admin):
    admin.put("/faults/429", json={"retry_after": 7, "times": 2, "match": "bulk-status"})
    kick = http.get("$export", params={"_type": "Location"}, headers=ASYNC)
    assert kick.status_code == 202  # not a bulk-status path
    status_url = kick.headers["Content-Location"]
    refused = [http.get(status_url) for _ in range(2)]
    assert [(r.status_code, r.headers["Retry-After"]) for r in refused] == [(429, "7")] * 2
    assert refused[0].json()["issue"][0]["code"] == "throttled"
    assert admin.get("/status").json()["faults"] == []
    time.sleep(0.3)
    assert http.get(status_url).status_code in (200, 202)


@pytest.mark.parametrize("mode", ["cut", "lines", "drop"])
def test_truncate_serves_export_files_short(http, admin, mode):
    _, manifest, _ = export(http, "$export", _type="Condition")
    item = manifest["output"][0]
    admin.put("/faults/truncate", json={"mode": mode, "keep": 0.5})
    if mode == "drop":
        with pytest.raises(httpx.RemoteProtocolError):
            http.get(item["url"], headers={"Accept-Encoding": "identity"})
        return
    body = http.get(item["url"], headers={"Accept-Encoding": "identity"}).content
    admin.delete("/faults/truncate")
    whole = http.get(item["url"]).content
    assert 0 < len(body) < len(whole) and whole.startswith(body)
    if mode == "cut":
        assert not body.endswith(b"\n") and not body.rstrip().endswith(b"}")
    else:
        assert body.endswith(b"\n") and body.count(b"\n") < item["count"]


def test_down_refuses_connections_until_cleared_and_keeps_everything(http, admin, sandbox):
    status_url, _, _ = export(http, "$export", _type="Location")
    assert admin.put("/faults/down", json={}).status_code == 200
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{sandbox.base_url}/metadata")
    assert admin.get("/status").json()["up"] is False
    assert admin.delete("/faults").json()["cleared"] == ["down"]
    assert http.get("Patient/pat-000001").status_code == 200
    assert http.get(status_url).status_code == 200  # the export job outlived the stop


def test_down_for_seconds_comes_back_by_itself(admin, sandbox):
    admin.put("/faults/down", json={"seconds": 0.5})
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{sandbox.base_url}/metadata")
    for _ in range(100):
        if admin.get("/status").json()["up"]:
            break
        time.sleep(0.05)
    assert httpx.get(f"{sandbox.base_url}/metadata").status_code == 200


@pytest.mark.parametrize(("kind", "body", "words"), [
    ("bogus", {}, "unknown fault 'bogus'"),
    ("5xx", {"share": 2}, "share must be from 0 to 1"),
    ("5xx", {"speed": 1}, "takes no speed"),
    ("slow", {}, "needs seconds"),
    ("truncate", {"mode": "half"}, "mode must be one of cut, lines, drop"),
])
def test_a_fault_that_cannot_be_had_is_one_line(admin, kind, body, words):
    answer = admin.put(f"/faults/{kind}", json=body)
    assert answer.status_code == 400
    assert words in answer.json()["error"] and "\n" not in answer.json()["error"]
    assert admin.get("/status").json()["faults"] == []
