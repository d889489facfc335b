"""The report in a real headless browser (Debian's chromium): every image loads, no console errors, a screenshot.

Chromium is installed by this test's set-up where it is missing and the user is
root (``apt-get install -y chromium``, after ``apt-get update`` if the first try
fails); where it cannot be installed the tests are skipped with the reason.

Two independent checks:

* the page itself is loaded with ``--enable-logging=stderr --v=0``: Chromium logs
  every console message (errors, CSP violations) as a ``CONSOLE`` line, and the
  report has no script, so there must be none; ``--screenshot`` gives a picture;
* a copy with a small probe script placed before the page's
  Content-Security-Policy (which therefore still applies to everything after it)
  is loaded with ``--dump-dom``: at the load event the probe writes into the DOM
  the number of images, those with ``naturalWidth == 0``, every error event
  (including failed image loads) and CSP violation, and how far the page
  overflows a phone-width window.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from test_report import XSS, make_experiment, make_run

from classicnets.report import write_report

PROBE = """<script>
(function () {
  var errors = [];
  window.addEventListener("error", function (e) {
    var t = e.target && e.target !== window ? e.target.tagName + " " + String(e.target.src || "").slice(0, 50) : "";
    errors.push("error: " + (e.message || t));
  }, true);
  document.addEventListener("securitypolicyviolation", function (e) {
    errors.push("csp: " + e.violatedDirective + " " + e.blockedURI);
  });
  console.error = function () { errors.push("console.error: " + Array.prototype.join.call(arguments, " ")); };
  window.addEventListener("load", function () {
    var broken = [];
    for (var i = 0; i < document.images.length; i++) {
      var img = document.images[i];
      if (!img.complete || img.naturalWidth === 0) broken.push(i + ": " + (img.alt || ""));
    }
    var out = document.createElement("pre");
    out.id = "report-probe";
    out.textContent = JSON.stringify({images: document.images.length, broken: broken, errors: errors,
      overflow: document.documentElement.scrollWidth - window.innerWidth});
    document.body.appendChild(out);
  });
})();
</script>"""


def _install_chromium() -> str | None:
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    cmd = ["apt-get", "install", "-y", "-q", "chromium"]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if r.returncode != 0:  # a stale or missing package list: update it once and try again
        subprocess.run(["apt-get", "update", "-q"], capture_output=True, text=True, env=env, timeout=600)
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900)
    if r.returncode != 0:
        return (r.stderr or r.stdout).strip().splitlines()[-1:][0] if (r.stderr or r.stdout).strip() else "failed"
    return None


@pytest.fixture(scope="module")
def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("chromium is not installed and this user is not root, so the test cannot install it "
                    "(as root: apt-get install -y chromium)")
    if not shutil.which("apt-get"):
        pytest.skip("chromium is not installed and there is no apt-get to install it with (not Debian)")
    try:
        problem = _install_chromium()
    except (OSError, subprocess.TimeoutExpired) as e:
        problem = str(e)
    found = shutil.which("chromium")
    if not found:
        pytest.skip(f"chromium could not be installed with apt-get: {problem}")
    return found


def run_chromium(binary: str, url: str, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:  # a new, empty profile each time
        cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               f"--user-data-dir={profile}", "--hide-scrollbars", *args, url]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def probe(binary: str, page: Path, window: str = "390,844") -> dict:
    """Load ``page`` with the probe script in front and return what it found."""
    text = page.read_text()
    assert text.count("<head>") == 1
    with tempfile.TemporaryDirectory(prefix="report-probe-") as tmp:  # never beside the page itself
        checked = Path(tmp) / page.name
        checked.write_text(text.replace("<head>", "<head>" + PROBE, 1))
        r = run_chromium(binary, checked.as_uri(), "--dump-dom", f"--window-size={window}")
    start = r.stdout.find('<pre id="report-probe">')
    assert start >= 0, f"the probe did not run (chromium exit {r.returncode}): {r.stderr[-800:]}"
    body = r.stdout[start + len('<pre id="report-probe">'):].split("</pre>", 1)[0]
    return json.loads(html.unescape(body))


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A report of an experiment, a crafted run and a run trained by the real engine (a few steps)."""
    from classicnets.train import TrainConfig, fit

    root = tmp_path_factory.mktemp("browser")
    make_experiment(root / "data" / "exp")
    make_run(root / "data" / "runs" / "<script>alert(1)<" / "script>", model="plain20", finished=False)
    fit(TrainConfig(model="resnet20", dataset="digits", steps=4, batch_size=32, out=str(root / "data" / "real"),
                    progress="none", threads=1, precision="fp32"))
    out, _ = write_report([root / "data"], root / "report.html")
    return out


def test_report_in_headless_browser(chromium: str, report: Path) -> None:
    # the page as it is: no console message at all (the report has no script), and a screenshot
    shot = report.with_name("screenshot.png")
    r = run_chromium(chromium, report.as_uri(), "--enable-logging=stderr", "--v=0", "--window-size=1280,2200",
                     f"--screenshot={shot}")
    assert shot.is_file(), f"no screenshot (chromium exit {r.returncode}): {r.stderr[-800:]}"
    assert not console_lines(r.stderr), f"console messages: {console_lines(r.stderr)}"
    from PIL import Image

    with Image.open(shot) as im:
        assert im.size == (1280, 2200)
        colors = im.convert("RGB").getcolors(maxcolors=1 << 20)
        assert colors is None or len(colors) > 50, "the screenshot looks blank"

    # the probe at phone width: every image decoded, no error, no CSP violation, no sideways scrolling
    found = probe(chromium, report)
    n_img = report.read_text().count("<img ")
    assert found["images"] == n_img >= 7, found
    assert found["broken"] == [], f"images that did not load: {found['broken']}"
    assert found["errors"] == [], f"errors in the page: {found['errors']}"
    assert found["overflow"] <= 0, f"the page is {found['overflow']} px wider than a phone screen"
    assert XSS in html.unescape(report.read_text())


def test_probe_catches_broken_images_and_scripts(chromium: str, report: Path) -> None:
    """The probe is not blind: a broken image and an injected script are reported."""
    bad = report.with_name("bad.html")
    bad.write_text(report.read_text().replace(
        "<main>", '<main><img src="data:image/png;base64,AAAA" alt="broken"><script>console.log(1)</script>', 1))
    found = probe(chromium, bad)
    assert found["broken"] == ["0: broken"], found
    assert any(e.startswith("csp: script-src") for e in found["errors"]), found


@pytest.mark.slow
def test_smoke_experiment_report_in_browser(chromium: str, tmp_path: Path) -> None:
    """The real degradation experiment at smoke scale (about a minute of training), rendered and checked."""
    from classicnets.experiments import run_experiment

    run_experiment("degradation", scale="smoke", out=tmp_path / "exp", verbose=False)
    out, col = write_report([tmp_path / "exp"], tmp_path / "report.html")
    assert len(col.experiments) == 1 and len(col.all_runs()) == 4
    found = probe(chromium, out)
    assert found["images"] >= 4 + 4 + 1 and found["broken"] == [] and found["errors"] == [], found
    r = run_chromium(chromium, out.as_uri(), "--enable-logging=stderr", "--v=0", "--window-size=1280,2000",
                     f"--screenshot={tmp_path / 'shot.png'}")
    assert (tmp_path / "shot.png").is_file() and not console_lines(r.stderr)
