"""The report page: what it chooses to play, what it writes, and how it behaves in a real browser."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile
from markupsafe import escape

from bench import pipeline, report
from tests.dummies.results import write_results

UTTERANCES = 3  # best, median and worst: each a different utterance


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """A small results tree, its audio as a ../shared sample, imse-vb-3.399's output in the reproduce cache
    (muse-vb names no weights; trained-imse's are in no cache), and the report written without enhancing."""
    root = tmp_path_factory.mktemp("report")
    results = write_results(root, utterances=UTTERANCES)
    shared = root / "shared" / "vbdmd-sample"
    shared.mkdir(parents=True)
    for kind in ("clean", "noisy"):
        (shared / kind).symlink_to(root / "audio" / kind)
    work = root / "cache"
    measured = results / "measured" / "vbdmd-sample"
    for system, sha256 in (("imse-vb-3.399", "a" * 64), ("trained-imse", "b" * 64)):
        path = measured / f"{system}.provenance.json"
        record = json.loads(path.read_text())
        path.write_text(json.dumps({**record, "sha256": sha256, "torch_threads": 1, "mode": "segmented"}))
    shutil.copytree(root / "audio" / "better", pipeline.enhanced_directory(work, "vbdmd-sample", "a" * 64,
                                                                          "segmented", 1))
    index = report.write_report(results, root / "site", shared=root / "shared", work=work, enhance=False)
    return results, index, root


def _improvements(results: Path) -> dict[str, float]:
    """PESQ(imse-vb-3.399) - PESQ(noisy) per utterance, straight from the two loizou CSVs."""
    def pesq(system):
        with open(results / "measured" / "vbdmd-sample" / f"{system}.loizou.csv", newline="") as stream:
            return {row["utterance"]: float(row["pesq"]) for row in csv.DictReader(stream) if row["status"] == "ok"}
    enhanced, noisy = pesq("imse-vb-3.399"), pesq("noisy")
    return {utterance: enhanced[utterance] - noisy[utterance] for utterance in enhanced}


def test_the_rule_picks_the_best_median_and_worst_improvement(built):
    results, _, _ = built
    improvements = _improvements(results)
    ranked = sorted(improvements, key=lambda utterance: (improvements[utterance], utterance))
    chosen = report.choose_utterances(results, "vbdmd-sample")
    assert [(rule, utterance) for rule, utterance, _ in chosen] == [
        ("best", ranked[-1]), ("median", ranked[(UTTERANCES - 1) // 2]), ("worst", ranked[0])]
    assert [value for *_, value in chosen] == pytest.approx([improvements[u] for u in (ranked[-1], ranked[1],
                                                                                         ranked[0])])


def test_the_page_plays_the_cached_output_and_counts_what_it_left_out(built):
    results, index, root = built
    page = index.read_text()
    for rule, utterance, _ in report.choose_utterances(results, "vbdmd-sample"):
        folder = index.parent / "audio" / "vbdmd-sample" / utterance
        assert sorted(path.name for path in folder.iterdir()) == ["clean.wav", "imse-vb-3.399.wav", "noisy.wav"]
        played, rate = soundfile.read(folder / "imse-vb-3.399.wav")
        assert rate == 16_000 and soundfile.info(folder / "imse-vb-3.399.wav").subtype == "PCM_16"
        source, _ = soundfile.read(root / "audio" / "better" / f"{utterance}.wav")
        np.testing.assert_allclose(played, np.clip(source, -1, 1), atol=1 / 32768)  # the cached file, as PCM16
        assert f"{utterance} · {rule}" in page
    # per utterance: muse-vb names no weights, trained-imse is in no cache and enhancing is off
    assert "6 system output(s) could not be had" in page
    assert page.count("left out: muse-vb: its provenance names no weights") == 3
    assert page.count("left out: trained-imse: not in the cache") == 3
    assert not re.search(r"\bnan\b", page, re.IGNORECASE) and "http://" not in page and "https://" not in page


def test_every_table_of_bench_tables_is_on_the_page_with_its_footnotes_linked(built):
    results, index, _ = built
    page = index.read_text()
    for name in report.tables.TABLES:
        assert f'id="table-{name}"' in page or escape(f"table {name!r} left out: it has no rows") in page
    assert '<sup><a href="#fn-main-a">a</a></sup>' in page and 'id="fn-main-a"' in page
    assert page.count("<details") == len({(m.dataset, m.system) for m in report.load_measured(results)})


def test_the_output_may_not_be_the_results_it_reports_on(built, tmp_path):
    results, _, _ = built
    with pytest.raises(report.ReportError, match="would hold the results"):
        report.write_report(results, results.parent, enhance=False)
    with pytest.raises(report.ReportError, match="lies inside the results"):
        report.write_report(results, results / "measured", enhance=False)
    with pytest.raises(report.ReportError, match="reported.csv not found"):
        report.write_report(tmp_path, tmp_path / "site", enhance=False)


def _browser():
    """A headless Chromium through chromedriver, or a skip saying what is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install .[test])")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if browser is None or driver is None:
        pytest.skip("Chromium or chromedriver is missing (apt-get install chromium chromium-driver; .ci/run does)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(driver), options=options)


AUDIO_DURATIONS = """
const done = arguments[arguments.length - 1];
const players = Array.from(document.querySelectorAll('audio'));
Promise.all(players.map(player => new Promise(resolve => {
  if (player.readyState >= 1) { resolve(player.duration); return; }
  player.addEventListener('loadedmetadata', () => resolve(player.duration), {once: true});
  player.addEventListener('error', () => resolve(-1), {once: true});
  player.load();
}))).then(done);
"""


def check_in_browser(index: Path, screenshot: Path) -> dict:
    """Open the report in headless Chromium; return what it saw: SEVERE console entries, rows per table,
    images that did not load, audio durations; and write a full-page screenshot."""
    driver = _browser()
    try:
        driver.set_script_timeout(20)
        driver.get(index.resolve().as_uri())
        rows = driver.execute_script(
            "return Array.from(document.querySelectorAll('table')).map(t => t.querySelectorAll('tbody tr').length)")
        images = driver.execute_script("""
            const images = Array.from(document.images);
            await Promise.all(images.map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
            return images.filter(i => i.naturalWidth === 0).map(i => i.getAttribute('src'))
                .concat([images.length]);""")
        durations = driver.execute_async_script(AUDIO_DURATIONS)
        height = driver.execute_script("return document.body.scrollHeight")
        driver.set_window_size(1400, min(height, 16000))
        driver.save_screenshot(str(screenshot))
        severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
    finally:
        driver.quit()
    return {"severe": severe, "rows": rows, "broken_images": images[:-1], "images": images[-1],
            "durations": durations}


def test_the_report_loads_in_a_real_browser(built, tmp_path):
    _, index, _ = built
    seen = check_in_browser(index, tmp_path / "report.png")
    assert seen["severe"] == []
    # every table but significance (this tree has no significance.json: the page says so instead)
    assert len(seen["rows"]) == len(report.tables.TABLES) - 1 and all(count > 0 for count in seen["rows"])
    assert seen["broken_images"] == [] and seen["images"] >= 3 + 3 * 3  # three plots, three clips of three utterances
    assert len(seen["durations"]) == 9 and all(duration > 0 for duration in seen["durations"])
    assert (tmp_path / "report.png").read_bytes().startswith(b"\x89PNG")
