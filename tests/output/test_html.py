"""The HTML report: one self-contained file for every kind of results folder, checked structurally always
and in a real browser (headless Chromium) where one is installed."""

import base64
import io
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.browser import CHROMIUM, FLAGS, needs_chromium

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


class Page(HTMLParser):
    """Tables, their rows, images and every URL-bearing attribute of a page."""

    def __init__(self):
        super().__init__()
        self.tables, self.rows, self.images, self.urls, self.scripts = 0, 0, [], [], []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tables += tag == "table"
        self.rows += tag == "tr"
        if tag == "img":
            self.images.append(attrs.get("src", ""))
        for key in ("src", "href", "action", "data", "poster"):
            if key in attrs and tag != "img":
                self.urls.append(attrs[key])
        self._in_script = tag == "script"
        if tag in ("link", "iframe", "object", "embed"):
            self.urls.append(f"<{tag}>")

    def handle_data(self, data):
        if self._in_script:
            self.scripts.append(data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False


def check_self_contained(text):
    from PIL import Image

    page = Page()
    page.feed(text)
    page.close()
    assert page.tables >= 1 and page.images, "a report has tables and figures"
    for src in page.images:
        assert src.startswith("data:image/png;base64,")
        with Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))) as im:
            im.verify()  # decodes as a PNG
    assert not page.urls  # nothing refers to a file or a site outside the page
    assert not re.search(r"(https?:)?//[\w.-]+\.\w+/", "".join(page.scripts) + re.sub(r"data:[^\"]+", "", text)
                         .split("<h2>Configuration</h2>")[0])  # no URL outside the config dump
    return page


@pytest.fixture(scope="module")
def compared(compared):
    """The folder of the shared comparison (tests/conftest.py; compare ran with --track-layers --html)."""
    folder, _ = compared
    return folder


def test_compare_writes_a_self_contained_report(compared):
    text = (compared / "report.html").read_text()
    page = check_self_contained(text)
    assert page.rows >= 5  # the four configurations and a header, at least
    for wanted in ("Summary", "he-normal", "adam", "Run status", "Environment", "torch", "device", "cpu",
                   "layers tracks"):
        assert wanted in text, wanted


def test_report_format_html_prints_the_page_and_pivots(cli, compared, tmp_path):
    code, out, _ = cli("report", compared, "--format", "html", "--by", "init")
    assert code == 0 and out.startswith("<!DOCTYPE html>")
    assert "by init" in out
    check_self_contained(out)


@pytest.mark.parametrize("name", ["", "modern", "landscape", "paths-rosenbrock", "paths-toy-regression",
                                  "inspect"])
def test_every_kind_of_results_folder_reports(cli, tmp_path, name):
    code, out, _ = cli("report", EXAMPLES / name, "--html", tmp_path / "r.html", "--no-plot")
    assert code == 0, out
    check_self_contained((tmp_path / "r.html").read_text())


def test_an_old_folder_reports_too(cli, tmp_path, compared):
    import json

    import pandas as pd

    old = tmp_path / "old"
    shutil.copytree(compared, old)
    metrics = pd.read_csv(old / "metrics.csv")
    metrics.drop(columns=["act", "norm", "diverged_step", "schedule", "opt_args", "lr_end"]).to_csv(
        old / "metrics.csv", index=False)
    config = json.loads((old / "config.json").read_text())
    config.pop("environment", None)
    (old / "config.json").write_text(json.dumps(config))
    code, out, _ = cli("report", old, "--html", tmp_path / "old.html")
    assert code == 0, out
    check_self_contained((tmp_path / "old.html").read_text())


def test_report_html_refuses_a_folder_that_is_not_one(cli, tmp_path):
    code, out, result = cli("report", tmp_path, "--format", "html")
    assert code == 2 and "neither metrics.csv nor config.json" in result.stderr


@needs_chromium
@pytest.mark.slow
def test_the_report_renders_in_a_real_browser(compared, tmp_path):
    """Headless Chromium loads the file: its script runs without error (it marks the page), the tables and
    images are in the rendered DOM, and the console shows no error."""
    page = compared / "report.html"
    cmd = [CHROMIUM, *FLAGS, "--enable-logging=stderr", "--v=0",
           f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", page.as_uri()]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert 'data-sortable="ready"' in dom  # the inline script ran to its end
    assert dom.count("<tr>") >= 5 and dom.count("<img") >= 3
    assert not re.search(r"Uncaught|CONSOLE\(\d+\).*[Ee]rror", done.stderr)


def test_train_and_bench_folders_report(cli, tmp_path):
    assert cli("train", "--dataset", "digits", "--epochs", "1", "--quiet", "--out", tmp_path / "train")[0] == 0
    assert cli("bench", "--opts", "adam", "--n", "500", "--dataset", "synthetic", "--quiet",
               "--out", tmp_path / "bench")[0] == 0
    for name in ("train", "bench"):
        code, out, _ = cli("report", tmp_path / name, "--html", tmp_path / f"{name}.html")
        assert code == 0, out
        text = (tmp_path / f"{name}.html").read_text()
        if name == "bench":
            assert "Benchmark cases" in text and "Environment" in text
        else:
            check_self_contained(text)
